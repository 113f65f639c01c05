// require() of the ESM-only packages (Node >= 20.19 / 22.12 load ESM through require).
for (const name of ["@crosscode/core", "@crosscode/eval", "@crosscode/crosscoder", "@crosscode/steering"]) {
  const mod = require(name)
  if (Object.keys(mod).length === 0) throw new Error(`require("${name}") gave an empty module`)
  console.log(`require("${name}"): ${Object.keys(mod).length} exports`)
}
