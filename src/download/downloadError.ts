// Errors of the model download: a closed set of codes, so the CLI and the extension can say what to do about each.

export type DownloadErrorCode =
  | 'not-found' // the repository, revision, variant or a file does not exist on the hub
  | 'unauthorized' // 401/403: a gated or private repository, or a wrong token
  | 'network' // the hub (or the proxy) cannot be reached, or the connection kept failing
  | 'http' // any other unexpected answer from the hub
  | 'verification' // a file's size or checksum differs from what the hub publishes (the file is deleted)
  | 'invalid-model' // the files arrived but the engine does not accept the folder
  | 'io' // the model folder cannot be written (disk full, no permission)
  | 'invalid-request' // a malformed repository id, revision or option
  | 'cancelled'; // the caller's AbortSignal fired (partial files are kept for the next run to resume)

export class DownloadError extends Error {
  constructor(
    readonly code: DownloadErrorCode,
    message: string,
    /** For `network` and `unauthorized`: how to get the files without this tool. */
    readonly manualSteps?: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR');
}
