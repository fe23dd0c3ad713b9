// The REST API as the review app uses it: the same calls any client makes, with the key in
// the Authorization header. Errors become ApiError with the API's own sentence.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status; // 0: the API could not be reached
    this.body = body;
  }
}

const OFFLINE = "The API cannot be reached. Check that it is running, then try again.";

function describe(status, body) {
  if (body && typeof body === "object") {
    const detail = body.detail ?? body.error;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
  }
  if (status === 401) return "The API key was not accepted.";
  return `The API answered ${status}.`;
}

export class Api {
  constructor(key, tenantId = null) {
    this.key = key;
    this.tenantId = tenantId;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  url(path, query = {}) {
    const url = new URL(path, window.location.origin);
    const params = { ...query };
    if (this.tenantId && !("tenantId" in params)) params.tenantId = this.tenantId;
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) url.searchParams.set(name, value);
    }
    return url;
  }

  async request(method, path, { query, body, signal } = {}) {
    const init = { method, headers: this.headers(), signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.url(path, query), init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, OFFLINE);
    }
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) throw new ApiError(response.status, describe(response.status, parsed), parsed);
    return parsed;
  }

  session() {
    return this.request("GET", "/session", { query: { tenantId: null } });
  }

  jobs(cursor = null) {
    return this.request("GET", "/jobs", { query: { limit: 50, cursor } });
  }

  job(id) {
    return this.request("GET", `/jobs/${encodeURIComponent(id)}`);
  }

  plan(id) {
    return this.request("GET", `/jobs/${encodeURIComponent(id)}/plan`);
  }

  savePlan(id, edits, planner = null) {
    const body = { edits };
    if (planner) body.planner = planner;
    return this.request("PUT", `/jobs/${encodeURIComponent(id)}/plan`, { body });
  }

  render(id) {
    return this.request("POST", `/jobs/${encodeURIComponent(id)}/render`);
  }

  cancel(id) {
    return this.request("POST", `/jobs/${encodeURIComponent(id)}/cancel`, { body: {} });
  }

  retry(id) {
    return this.request("POST", `/jobs/${encodeURIComponent(id)}/retry`);
  }

  link(id, path) {
    return this.request("GET", `/jobs/${encodeURIComponent(id)}/links/${path}`);
  }

  createJob(file, options) {
    const input = {
      originalFilename: file.name,
      bytes: file.size,
      mimeType: file.type || "application/octet-stream",
    };
    return this.request("POST", "/jobs", { body: { tenantId: this.tenantId, input, options } });
  }

  // PUT the file with XMLHttpRequest: fetch reports no upload progress.
  upload(uploadUrl, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", new URL(uploadUrl, window.location.origin));
      xhr.setRequestHeader("Authorization", `Bearer ${this.key}`);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onerror = () => reject(new ApiError(0, OFFLINE));
      xhr.onload = () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          body = null;
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new ApiError(xhr.status, describe(xhr.status, body), body));
      };
      xhr.send(file);
    });
  }

  // Server-Sent Events through fetch (EventSource cannot send the Authorization header):
  // calls onEvent with each event's parsed data until the stream ends or `signal` aborts.
  async events(id, onEvent, signal) {
    let response;
    try {
      response = await fetch(this.url(`/jobs/${encodeURIComponent(id)}/events`), {
        headers: this.headers({ Accept: "text/event-stream" }),
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") return;
      throw new ApiError(0, OFFLINE);
    }
    if (!response.ok || !response.body) {
      throw new ApiError(response.status, describe(response.status, null));
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (error.name === "AbortError") return;
        throw new ApiError(0, OFFLINE);
      }
      if (chunk.done) return;
      buffer += chunk.value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (data) onEvent(JSON.parse(data));
      }
    }
  }
}
