import { describe, expect, it } from "vitest"
import { blockInput, blockOutput, parseSite, siteKey, transformerLensName } from "../src/index.js"

describe("hook site names", () => {
  it("maps sites to TransformerLens names and back", () => {
    expect(transformerLensName(blockOutput(13))).toBe("blocks.13.hook_resid_post")
    expect(transformerLensName(blockInput(0))).toBe("blocks.0.hook_resid_pre")
    expect(parseSite("blocks.13.hook_resid_post")).toEqual(blockOutput(13))
    expect(parseSite(" blocks.2.hook_resid_pre ")).toEqual(blockInput(2))
    expect(parseSite(siteKey(blockOutput(7)))).toEqual(blockOutput(7))
    for (const bad of ["blocks.13.hook_resid_mid", "blocks.x.hook_resid_post", "blocks.1.attn.hook_z", "13"])
      expect(parseSite(bad)).toBeUndefined()
  })
})
