#!/usr/bin/env bash
# Pack smoke test: what a user gets from npm. Builds and packs every publishable package, installs
# the tarballs into a fresh npm project that pins an older compatible effect (the peer range's
# floor), then checks: the install prints no stack trace, exactly one copy of effect is installed,
# a user script type-checks against the packed .d.ts (skipLibCheck off) and runs — the Promise API
# (runRecipe) and the Effect API on the user's effect — `require()` of the ESM packages works, and
# `npx crosscode` runs a tiny recipe.
#
# Usage: scripts/pack-smoke.sh [--keep]   (--keep leaves the scratch project and prints its path)
# Env:   PACK_SMOKE_EFFECT (default 4.0.6): the effect / @effect/platform-node version the user pins.
# Every failure ends with one line `pack-smoke FAILED: <what>` and exit status 1.
# To add a check: append a `step` block below; the scratch project is $USER_DIR.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EFFECT_VERSION=${PACK_SMOKE_EFFECT:-4.0.6}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/crosscode-pack-smoke.XXXXXX")
if [ "${1:-}" = "--keep" ]; then echo "pack-smoke: scratch project kept in $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
TARBALLS="$WORK/tarballs"
USER_DIR="$WORK/user"
mkdir -p "$TARBALLS" "$USER_DIR"
START=$SECONDS

fail() {
  echo "pack-smoke FAILED: $*" >&2
  exit 1
}
step() { echo "pack-smoke [$((SECONDS - START)) s]: $*"; }
# Runs a command quietly; on failure shows its last lines and fails with the given message.
quiet() {
  local what=$1
  shift
  if ! "$@" >"$WORK/last.log" 2>&1; then
    tail -n 40 "$WORK/last.log" >&2
    fail "$what"
  fi
}

PACKAGES=()
for dir in "$ROOT"/packages/*/; do
  if node -e 'process.exit(require(process.argv[1]).private ? 1 : 0)' "$dir/package.json"; then PACKAGES+=("$dir"); fi
done

step "building ${#PACKAGES[@]} packages"
quiet "build (pnpm build)" bash -c "cd '$ROOT' && pnpm -s turbo run build --filter='./packages/*' --output-logs=errors-only"

step "packing"
for dir in "${PACKAGES[@]}"; do
  quiet "pnpm pack in $dir" bash -c "cd '$dir' && pnpm pack --pack-destination '$TARBALLS'"
done

step "checking tarball contents"
for tgz in "$TARBALLS"/*.tgz; do
  listing=$(tar -tzf "$tgz") || fail "cannot list $tgz"
  for f in package/package.json package/LICENSE package/README.md package/dist/index.js package/dist/index.d.ts; do
    grep -qx "$f" <<<"$listing" || fail "$(basename "$tgz") lacks ${f#package/}"
  done
  manifest=$(tar -xzOf "$tgz" package/package.json)
  grep -q '"workspace:' <<<"$manifest" && fail "$(basename "$tgz"): package.json still has a workspace: dependency"
  readme=$(tar -xzOf "$tgz" package/README.md)
  if grep -nE '\]\((\.\.?/|[a-z][a-z0-9-]*/)[^)]*\)|\.\./shared' <<<"$readme"; then
    fail "$(basename "$tgz"): README.md has relative links (dead on npm)"
  fi
done

step "fresh npm project with effect@$EFFECT_VERSION"
node - "$USER_DIR" "$TARBALLS" "$EFFECT_VERSION" <<'EOF'
const fs = require("node:fs")
const path = require("node:path")
const [dir, tarballs, effect] = process.argv.slice(2)
const deps = { effect, "@effect/platform-node": effect }
for (const f of fs.readdirSync(tarballs)) {
  // crosscode-core-0.1.0.tgz -> @crosscode/core
  const name = f.replace(/^crosscode-(.*)-\d+\.\d+\.\d+.*\.tgz$/, "@crosscode/$1")
  deps[name] = `file:${path.join(tarballs, f)}`
}
const pkg = {
  name: "crosscode-user",
  private: true,
  type: "module",
  dependencies: deps,
  // the packages depend on each other by version: point those edges at the tarballs too
  overrides: Object.fromEntries(Object.entries(deps).filter(([n]) => n.startsWith("@crosscode/"))),
  devDependencies: { typescript: "5.9.3", "@types/node": "20.19.43" }
}
fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2))
EOF
cp -r "$ROOT/examples/recipes" "$ROOT/examples/models" "$USER_DIR/"
mkdir -p "$USER_DIR/data" && cp -r "$ROOT/examples/data/embedded" "$USER_DIR/data/"
cp "$ROOT/scripts/pack-smoke/user.ts" "$ROOT/scripts/pack-smoke/tsconfig.json" "$ROOT/scripts/pack-smoke/require.cjs" "$USER_DIR/"

step "npm install"
cd "$USER_DIR" || fail "cd $USER_DIR"
if ! npm install --no-audit --no-fund >"$WORK/install.log" 2>&1; then
  tail -n 40 "$WORK/install.log" >&2
  fail "npm install of the tarballs"
fi
if grep -nE '^\s+at |Error:|ERR!' "$WORK/install.log"; then fail "npm install printed errors or a stack trace (above)"; fi
du -sh node_modules | sed 's/^/pack-smoke: install size /'

step "one copy of effect"
copies=$(find node_modules -path '*/node_modules/effect/package.json' | sort)
[ "$(wc -l <<<"$copies")" = 1 ] || fail "more than one effect installed: $(tr '\n' ' ' <<<"$copies")"
installed=$(node -p 'require("./node_modules/effect/package.json").version')
[ "$installed" = "$EFFECT_VERSION" ] || fail "effect $installed installed, the project pins $EFFECT_VERSION"
[ -z "$(find node_modules -path '*/node_modules/@tensorflow/tfjs/package.json')" ] || fail "the @tensorflow/tfjs umbrella was installed"

step "type-checking the user script (skipLibCheck off)"
quiet "tsc on the user script against the packed types" npx tsc -p tsconfig.json

step "running the user script (Promise API, then the Effect API on effect@$EFFECT_VERSION)"
quiet "the user script" node out/user.js
cat "$WORK/last.log"

step "the first example of @crosscode/study's README (plain JavaScript, no Effect)"
awk '/^```js/{on=1; next} on && /^```/{exit} on' node_modules/@crosscode/study/README.md >first-run.mjs
[ -s first-run.mjs ] || fail "no \`\`\`js example in @crosscode/study's README"
quiet "the README's first example (node first-run.mjs)" node first-run.mjs
grep -E '^(harvest|train):' "$WORK/last.log" || fail "the README's first example printed no stage outcomes"

step "require() of the ESM packages"
quiet "require(esm)" node require.cjs
cat "$WORK/last.log"

step "npx crosscode run (tiny embedded recipe, harvest and train)"
quiet "npx crosscode run" npx crosscode run recipes/embedded.json --run-dir runs/cli --backend wasm --until train \
  --set harvest.text.sources.0.samples=24 --set harvest.text.sources.1.samples=24 \
  --set harvest.text.sources.2.samples=8 --set harvest.maxLength=64 \
  --set crosscoders.0.steps=20 --set crosscoders.1.steps=20 --set crosscoders.0.evalEvery=10 \
  --set crosscoders.1.evalEvery=10 --set crosscoders.0.batchSize=16 --set crosscoders.1.batchSize=16
[ -f runs/cli/train/dfc/summary.json ] || fail "npx crosscode run wrote no train/dfc/summary.json"

step "passed"
