import { defineConfig } from "vitest/config"

// One run over every package, so CI gets a single summary and a single JSON report.
export default defineConfig({
  test: {
    projects: ["packages/*", "examples"]
  }
})
