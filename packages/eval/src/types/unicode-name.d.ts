// `unicode-name` ships no type declarations; the two functions the `\N{…}` decoder uses.
declare module "unicode-name" {
  export function unicodeBaseName(char: string | number): string | undefined
  export function unicodeAliases(char: string | number): Readonly<Record<string, ReadonlyArray<string>>> | undefined
}
