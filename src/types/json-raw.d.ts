// JSON.rawJSON (Node >= 21, V8): a value JSON.stringify writes verbatim. Not yet in TypeScript's lib.
declare global {
  interface JSON {
    rawJSON(text: string): unknown;
    isRawJSON(value: unknown): boolean;
  }
}
export {};
