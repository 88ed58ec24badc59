/** What pull and push report as they go; the CLI renders it as Docker's lines or bars, the API as JSON messages. */
export interface Progress {
  /** A layer's (or blob's) status changed: "Downloading", "Pull complete", ... */
  update(id: string, status: string, bytes?: { current: number; total: number }): void;
  /** A line about the whole operation. */
  line(text: string): void;
}
