import { initTensorBackend } from "@crosscode/core"
import { Effect } from "effect"
const r = await Effect.runPromiseExit(initTensorBackend((process.argv[2] ?? "tensorflow") as any))
console.log(r._tag, r._tag === "Success" ? r.value.name : JSON.stringify(r.cause).slice(0, 500))
