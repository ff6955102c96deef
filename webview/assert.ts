/** For the default of an exhaustive switch: a compile error when a case is missing, a throw if one slips through. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected message or state: ${JSON.stringify(value)}`);
}
