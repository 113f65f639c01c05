export * from "./errors.js"
export * from "./generationConfig.js"
export * from "./qwen2Config.js"
