// The JSON API, and what the page does when it cannot reach it: a 503 (Redis down) or no answer at all is
// "unavailable", reported once to `onDown`, retried with capped exponential backoff, and `onUp` when it answers.

export const API = "api/v1.0/";
const FIRST_RETRY_MS = 1000, MAX_RETRY_MS = 30000;

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
  // Redis down (503) or bcx-web itself unreachable (no status): worth retrying, not the user's mistake.
  get unavailable() {
    return this.status === 503 || this.status === 0;
  }
}

export async function getJSON(path) {
  let response;
  try {
    response = await fetch(API + path, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError("bcx-web is unreachable", 0);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(body && body.error ? body.error : `HTTP ${response.status}`, response.status);
  return body;
}

// The delay before retry number `attempt` (0-based): 1 s, 2 s, 4 s ... at most 30 s.
export const backoff = (attempt) => Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);

// Call `task` until it succeeds; while the API is unavailable, tell `report(error, delay)` and wait.
export async function retrying(task, report) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await task();
    } catch (err) {
      if (!(err instanceof ApiError) || !err.unavailable) throw err;
      const delay = backoff(attempt);
      report(err, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
