/** The public API is exactly what api.md lists (test-support/apiReport.ts explains the guard). */
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { checkApi } from "../../../test-support/apiReport.js"

describe("@crosscode/study public API", () => {
  it("index.ts exports exactly the names in api.md, and the module's runtime keys are its values", async () => {
    const { fromIndex, runtimeKeys, reported } = await checkApi(
      "@crosscode/study",
      fileURLToPath(new URL("..", import.meta.url))
    )
    expect(fromIndex).toEqual(reported)
    expect(runtimeKeys).toEqual(fromIndex.values)
  })
})
