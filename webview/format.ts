// How numbers, dates and long texts read in the panel.

export function formatRate(tokensPerSecond: number): string {
  return `${tokensPerSecond >= 10 ? Math.round(tokensPerSecond) : tokensPerSecond.toFixed(1)} tok/s`;
}

/** The time for today, the day otherwise. */
export function formatDate(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  const date = new Date(ms);
  const now = new Date();
  return date.toDateString() === now.toDateString()
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** One line, at most `max` characters. */
export function ellipsis(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
