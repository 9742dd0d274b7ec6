// The page's one way to the server: the token, JSON calls and server-sent-event streams.

const KEY = "twin-token";
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, message, key) {
    super(message);
    this.status = status;
    this.key = key;
  }
}

// The token arrives in the address bar (#token=…, the link `llm-twin serve` prints) and
// is kept in localStorage, so a reload or a new tab at / stays signed in.
export function takeTokenFromHash() {
  const match = /(?:^#|[#&?])token=([^&]+)/.exec(location.hash);
  if (!match) return false;
  setToken(decodeURIComponent(match[1]));
  const rest = location.hash.replace(/[#&?]?token=[^&]+/, "").replace(/^#?[&?]?/, "");
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : "#/draft"));
  return true;
}

export function setToken(token) {
  try {
    localStorage.setItem(KEY, token);
  } catch {
    sessionStorage.setItem(KEY, token);
  }
}

export function token() {
  try {
    return localStorage.getItem(KEY) || sessionStorage.getItem(KEY) || "";
  } catch {
    return sessionStorage.getItem(KEY) || "";
  }
}

// Called with no arguments when the server answers 401 (or there is no token at all).
export function onUnauthorized(fn) {
  listeners.add(fn);
}

function unauthorized(message) {
  for (const fn of listeners) fn(message);
  return new ApiError(401, message || "missing or wrong token");
}

function request(method, path, body, signal) {
  const headers = {Authorization: `Bearer ${token()}`};
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  return fetch(path, {method, headers, body: payload, signal, cache: "no-store"});
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`, key;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
    key = body && body.key;
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) return unauthorized(message);
  if (response.status === 404 && !key && /Not Found/.test(message)) {
    message = "this server does not have that yet (404): update and restart llm-twin serve";
  }
  return new ApiError(response.status, message, key);
}

// A JSON call; throws ApiError with the server's one-line reason.
export async function api(method, path, body) {
  if (!token()) throw unauthorized();
  let response;
  try {
    response = await request(method, path, body);
  } catch {
    throw new ApiError(0, "the server is not answering: is llm-twin serve running?");
  }
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

// A streamed call: each `data:` line's JSON object goes to onEvent as it arrives; resolves
// when the stream ends. A JSON (non-stream) answer is passed on as one event too.
export async function stream(method, path, body, onEvent, signal) {
  if (!token()) throw unauthorized();
  let response;
  try {
    response = await request(method, path, body, signal);
  } catch (exc) {
    if (exc.name === "AbortError") return;
    throw new ApiError(0, "the server is not answering: is llm-twin serve running?");
  }
  if (!response.ok) throw await failure(response);
  if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
    onEvent({type: "json", body: await response.json()});
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        for (const line of chunk.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const event = JSON.parse(line.slice(5).trim());
          if (event.type === "end") return;
          onEvent(event);
        }
      }
    }
  } catch (exc) {
    if (exc.name === "AbortError") return;
    throw new ApiError(0, "the connection to the server broke off: is llm-twin serve still running?");
  }
}
