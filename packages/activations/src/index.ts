export * from "./ActivationSource.js"
