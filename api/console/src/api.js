// The console's only way to the server: fetch on the same origin with the
// bearer token the user typed, kept in sessionStorage (this tab, this
// session; no cookie, so no request is authorised by the browser alone).

const TOKEN_KEY = 'rotor.token';

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function storeToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// An API error: the HTTP status and the API's error message (api/README.md, Errors).
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

// An error as one line naming its field; the API's messages mostly start
// with the field already ("name: array ... is declared in the config").
export function errorText(failure) {
  const { field, message } = failure;
  return field && !message.startsWith(`${field}:`) ? `${field}: ${message}` : message;
}

// Calls the API; resolves to the parsed JSON (null for 204), rejects with ApiError.
// `token` overrides the stored one (the login form tries a token before keeping it).
export async function api(method, path, body, token = storedToken()) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `rotor's API cannot be reached: ${error.message}`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    if (!response.ok) throw new ApiError(response.status, `${response.status} ${text.slice(0, 200)}`);
    return text;
  }
  if (!response.ok) {
    const error = json && json.error ? json.error : {};
    throw new ApiError(response.status, error.message || `HTTP ${response.status}`, error.field);
  }
  return json;
}

// The Prometheus text of /metrics as {name: [{labels, value}]}.
export async function metrics() {
  const response = await fetch('/metrics');
  if (!response.ok) throw new ApiError(response.status, `/metrics: HTTP ${response.status}`);
  const out = {};
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[3] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    (out[match[1]] ||= []).push({ labels, value: Number(match[4]) });
  }
  return out;
}

export const enc = encodeURIComponent;
