import { describe, expect, it } from "vitest"
import { makeRegistry, supportedModelTypes } from "../src/index.js"
import { defaultModelFamilies, modelFamilyRegistry } from "../src/model/registry.js"

describe("the registries' one rule", () => {
  it("registers in order; a later entry replaces an earlier one under the same name", () => {
    const r = makeRegistry(
      [
        { name: "a", v: 1 },
        { name: "b", v: 2 },
        { name: "a", v: 3 }
      ],
      (e) => e.name
    )
    expect(r.names).toEqual(["a", "b"])
    expect(r.get("a")?.v).toBe(3)
    expect(r.get("c")).toBeUndefined()
    expect(r.replaced).toEqual(["a"])
  })

  it("model families: every model_type of a family is a name; a later family wins a shared type", () => {
    const [qwen2] = defaultModelFamilies
    if (qwen2 === undefined) throw new Error("no built-in family")
    const alias = { ...qwen2, name: "alias", modelTypes: ["qwen2", "my-qwen"] }
    const reg = modelFamilyRegistry([...defaultModelFamilies, alias])
    expect(reg.get("qwen2")?.name).toBe("alias")
    expect(reg.get("my-qwen")?.name).toBe("alias")
    expect(supportedModelTypes([...defaultModelFamilies, alias])).toContain("my-qwen")
  })
})
