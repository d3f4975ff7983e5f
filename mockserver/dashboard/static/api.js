// The control API, called with the admin token the user typed (kept in this tab only).

const TOKEN_KEY = "seedance-mock.admin-token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function storeToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** JSON from /__admin…; ApiError(status 0) when the server cannot be reached. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    // fetch refuses a header value outside Latin-1: a token pasted with odd characters
    const badToken = error instanceof TypeError && /header/i.test(error.message);
    throw badToken
      ? new ApiError(401, "bad_token", "Token refused: it holds characters a header cannot carry.")
      : new ApiError(0, "unreachable", "Cannot reach the simulator; retrying.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || "error",
      error.message || `HTTP ${response.status}`,
    );
  }
  return data;
}

export function query(params) {
  const kept = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  return kept.length ? "?" + new URLSearchParams(kept).toString() : "";
}

export function part(text) {
  return encodeURIComponent(text);
}
