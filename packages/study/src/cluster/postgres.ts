/**
 * A throwaway PostgreSQL server for tests, the benchmark and trying the cluster on one machine:
 * `initdb` into a temporary directory, `pg_ctl start` on a free loopback port, trust auth, one
 * database. PostgreSQL refuses to run as root, so when this process is root the server binaries
 * run as the `postgres` user (else `nobody`) through `setpriv` (util-linux; no PAM, no password),
 * and the data directory is handed to that user.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"

/** Where Debian/Ubuntu install PostgreSQL 15's server binaries (`CROSSCODE_PG_BIN` overrides). */
export const findPgBin = (): string | undefined => {
  const candidates = [
    process.env.CROSSCODE_PG_BIN,
    "/usr/lib/postgresql/15/bin",
    ...(existsSync("/usr/lib/postgresql")
      ? readdirSync("/usr/lib/postgresql")
          .sort()
          .reverse()
          .map((v) => `/usr/lib/postgresql/${v}/bin`)
      : [])
  ]
  return candidates.find((d) => d !== undefined && existsSync(path.join(d, "initdb")))
}

export interface ThrowawayPostgres {
  /** `postgres://crosscode@127.0.0.1:<port>/crosscode` */
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** Stops the server (fast shutdown); `restart` starts it again on the same port and data. */
  stop(mode?: "fast" | "immediate"): void
  start(): void
  /** Stops the server and deletes its data directory. */
  destroy(): void
}

/** A TCP port nothing listens on at `host` now. */
export const findFreePort = (host = "127.0.0.1"): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once("error", reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      const port = typeof addr === "object" && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })

/** uid/gid of the unprivileged user the server runs as when we are root. */
const serverUser = (): { uid: number; gid: number; name: string } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  for (const name of ["postgres", "nobody"]) {
    const r = spawnSync("id", ["-u", name], { encoding: "utf8" })
    if (r.status === 0) {
      const uid = Number(r.stdout.trim())
      const gid = Number(spawnSync("id", ["-g", name], { encoding: "utf8" }).stdout.trim())
      return { uid, gid, name }
    }
  }
  throw new Error("running as root and no `postgres` or `nobody` user to run PostgreSQL as")
}

/** Starts a fresh server; throws with the server's own message when it cannot. */
export const startThrowawayPostgres = async (bin = findPgBin()): Promise<ThrowawayPostgres> => {
  if (bin === undefined) throw new Error("no PostgreSQL server binaries (initdb) found; set CROSSCODE_PG_BIN")
  const root = mkdtempSync(path.join(tmpdir(), "crosscode-pg-"))
  const dataDir = path.join(root, "data")
  const user = serverUser()
  if (user !== undefined) {
    chmodSync(root, 0o755)
    chownSync(root, user.uid, user.gid)
  }
  // as root: `setpriv --reuid … --regid … --init-groups` drops to the server user for every binary
  const run = (tool: string, args: ReadonlyArray<string>) => {
    const exe = path.join(bin, tool)
    const [cmd, argv] =
      user === undefined
        ? [exe, args]
        : ["setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", exe, ...args]]
    return execFileSync(cmd, argv as Array<string>, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  }
  run("initdb", ["-D", dataDir, "-U", "crosscode", "--auth=trust", "--no-sync", "-E", "UTF8"])
  const port = await findFreePort()
  const opts = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-k ${root}`,
    "-c fsync=off",
    "-c max_connections=200",
    "-c shared_buffers=32MB"
  ].join(" ")
  const start = () => {
    run("pg_ctl", ["-D", dataDir, "-o", opts, "-l", path.join(root, "server.log"), "-w", "-t", "30", "start"])
  }
  const stop = (mode: "fast" | "immediate" = "fast") => {
    try {
      run("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "30", "stop"])
    } catch {
      // already stopped
    }
  }
  start()
  // the database the cluster tables live in
  run("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "crosscode", "crosscode"])
  return {
    url: `postgres://crosscode@127.0.0.1:${port}/crosscode`,
    port,
    dataDir,
    start,
    stop,
    destroy: () => {
      stop("immediate")
      rmSync(root, { recursive: true, force: true })
    }
  }
}
