// The page at GET /: sends the pasted reviews to POST /predict with explain on, and shows each
// label, score and the evidence in the text. Review text only ever reaches the page through
// textContent and text nodes, never as HTML, so a review holding markup shows as typed.
"use strict";

const SEPARATOR = /^[ \t]*-{3,}[ \t]*$/m;
const byId = (id) => document.getElementById(id);

function reviewsFrom(value) {
  return value.split(SEPARATOR).map((s) => s.trim()).filter((s) => s.length > 0);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(message, isError) {
  const status = byId("status");
  status.textContent = message;
  status.classList.toggle("error", Boolean(isError));
}

function percent(score) {
  return `${(100 * score).toFixed(1)} %`;
}

// Offsets count Unicode code points, as the API does; JavaScript strings count UTF-16 units.
function slicer(text) {
  const points = Array.from(text);
  return (start, end) => points.slice(start, end).join("");
}

function explainFailure(status, body, sentKey) {
  const detail = body && (body.error || body.message);
  const answer = `${status}${detail ? `: ${detail}` : ""}`;
  const iamOnly =
    "A deployment with authMode=iam needs every call signed with AWS credentials (SigV4), " +
    "which a page in a browser cannot do: call it with curl --aws-sigv4 or an AWS SDK " +
    "instead (docs/deploy.md).";
  // API Gateway's answer to an unsigned call under IAM; a missing or wrong key is "Forbidden".
  if (status === 403 && detail === "Missing Authentication Token") {
    return `The API refused the call unsigned (${answer}). ${iamOnly}`;
  }
  if (status === 401 || status === 403) {
    const key = sentKey
      ? `The API refused the key in the API key field (${answer}): check it, or ask for the ` +
        "current one (keys rotate)."
      : `This API needs a key: paste it in the API key field (it answered ${answer}).`;
    return `${key} ${iamOnly}`;
  }
  if (status === 503) return `No model is being served: ${detail || "see GET health"}.`;
  return `The API answered ${answer || status}.`;
}

// The key stays in this tab only (sessionStorage: gone when the tab closes, never in the URL),
// so a reload does not ask for it again.
const KEY_STORE = "sentiment-api-key";

function rememberKey() {
  const key = byId("api-key").value.trim();
  try {
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
  } catch (_) {
    // Storage can be refused (private modes, policies); the field still works for this page.
  }
}

function restoreKey() {
  try {
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) byId("api-key").value = key;
  } catch (_) {
    // As above: nothing kept, nothing to restore.
  }
}

function request() {
  const body = { text: reviewsFrom(byId("reviews").value), explain: true };
  const strategy = byId("strategy").value;
  if (strategy) body.strategy = strategy;
  const topK = byId("top-k").value.trim();
  if (topK) body.explain_top_k = Number(topK);
  const floor = byId("min-confidence").value.trim();
  if (floor) body.min_confidence = Number(floor);
  return body;
}

async function analyse(event) {
  event.preventDefault();
  const body = request();
  if (body.text.length === 0) {
    setStatus("Paste a review first.", true);
    return;
  }
  const headers = { "content-type": "application/json" };
  const key = byId("api-key").value.trim();
  if (key) headers["x-api-key"] = key;
  const button = byId("analyse");
  button.disabled = true;
  setStatus(`Analysing ${body.text.length} review(s)…`);
  try {
    // "predict", not "/predict": relative to the page, so it stays under the stage prefix.
    const response = await fetch("predict", {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok || data === null) {
      setStatus(explainFailure(response.status, data, Boolean(key)), true);
      return;
    }
    render(body.text, data);
    setStatus(`Model ${data.model_version}: ${data.predictions.length} review(s).`);
  } catch (err) {
    setStatus(`The API could not be reached: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// Cuts the text at every evidence span and read-range edge, so each piece is one text node.
function highlighted(text, evidence, labelClass, predicted) {
  const part = slicer(text);
  const length = Array.from(text).length;
  const edges = new Set([0, length]);
  for (const s of evidence.spans) edges.add(s.start).add(s.end);
  for (const r of evidence.read) edges.add(r.start).add(r.end);
  const cuts = [...edges].filter((x) => x >= 0 && x <= length).sort((a, b) => a - b);
  const paragraph = el("p", "review");
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [start, end] = [cuts[i], cuts[i + 1]];
    const span = evidence.spans.find((s) => s.start <= start && end <= s.end);
    const read = evidence.read.some((r) => r.start <= start && end <= r.end);
    let node;
    if (span) {
      const toward = span.weight > 0;
      const label = toward ? predicted : span.against;
      node = el("mark", `ev ${toward ? "toward" : "against"} ${labelClass(label)}`, part(start, end));
      node.title = `${toward ? "toward" : "against"} ${predicted}: ${span.weight.toFixed(3)}`;
    } else {
      node = document.createTextNode(part(start, end));
    }
    if (!read) {
      const wrap = el("span", "unread");
      wrap.appendChild(node);
      node = wrap;
    }
    paragraph.appendChild(node);
  }
  return paragraph;
}

function card(text, prediction, labels) {
  const labelClass = (label) => `l${Math.max(0, labels.indexOf(label)) % 4}`;
  const box = el("article", "card");
  const verdict = el("div", "verdict");
  verdict.appendChild(el("span", `label ${labelClass(prediction.label)}`, prediction.label));
  verdict.appendChild(el("span", "score", percent(prediction.score)));
  if (prediction.uncertain) verdict.appendChild(el("span", "badge uncertain", "uncertain"));
  const evidence = prediction.evidence;
  if (evidence && evidence.mixed) verdict.appendChild(el("span", "badge mixed", "mixed"));
  box.appendChild(verdict);
  const meta = `${prediction.num_tokens} tokens · read as ${prediction.strategy}` +
    (prediction.windows > 1 ? ` in ${prediction.windows} windows` : "") +
    (prediction.truncated ? " · partly read" : "");
  box.appendChild(el("div", "meta", meta));
  if (!evidence) {
    box.appendChild(el("p", "review", text));
    return box;
  }
  const other = labels.filter((l) => l !== prediction.label);
  for (const s of evidence.spans) s.against = other.length === 1 ? other[0] : "another label";
  box.appendChild(highlighted(text, evidence, labelClass, prediction.label));
  const list = el("ol", "evidence");
  for (const s of evidence.spans) {
    const sign = s.weight > 0 ? "+" : "−";
    list.appendChild(el("li", "", `${sign}${Math.abs(s.weight).toFixed(3)}  “${s.text}”`));
  }
  const details = el("details");
  details.appendChild(el("summary", "", `Evidence (${evidence.method})`));
  details.appendChild(list);
  box.appendChild(details);
  if (evidence.windows && evidence.windows.length > 1) {
    const windows = el("ol", "windows");
    for (const w of evidence.windows) {
      windows.appendChild(
        el("li", "", `characters ${w.start}–${w.end}: ${w.label} ${percent(w.score)}`),
      );
    }
    box.appendChild(el("div", "meta", "Windows, each with its own verdict:"));
    box.appendChild(windows);
  }
  return box;
}

function render(texts, data) {
  const results = byId("results");
  results.replaceChildren();
  data.predictions.forEach((prediction, i) => {
    const labels = Object.keys(prediction.scores);
    results.appendChild(card(texts[i], prediction, labels));
  });
  byId("legend").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  restoreKey();
  byId("api-key").addEventListener("input", rememberKey);
  byId("form").addEventListener("submit", analyse);
});
