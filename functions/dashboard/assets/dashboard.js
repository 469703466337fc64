// Tahobuddy dashboard: the only script (served from the app, no inline code; see the CSP).
// 1. <time datetime> elements show the viewer's own time zone.
// 2. A running job's log follows live by polling ?after=N (works behind API Gateway).
// 3. An app's "App output" panel follows what its serving container prints, the same way.
"use strict";

function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      t.textContent = d.toLocaleString();
      t.title = t.getAttribute("datetime");
    }
  }
}

async function followLog(list) {
  const status = document.getElementById("log-status");
  const stateCell = document.getElementById("job-state");
  let after = Number(list.dataset.after || 0);
  for (let polls = 0; polls < 3600; polls++) {   // bounded: about an hour at one poll a second
    let doc;
    try {
      const r = await fetch(`${list.dataset.src}?after=${after}`, {credentials: "same-origin"});
      if (r.status === 401) { status.textContent = "signed out: reload to sign in again"; return; }
      doc = await r.json();
    } catch (e) {
      status.textContent = "lost contact with the API; retrying";
      await new Promise(ok => setTimeout(ok, 2000));
      continue;
    }
    if (doc.dropped) {                // the API keeps a job's last lines only: say how many are gone
      const li = document.createElement("li");
      li.className = "dropped";
      li.textContent = `${doc.dropped.toLocaleString("en")} earlier line${doc.dropped === 1 ? "" : "s"} dropped`;
      list.appendChild(li);
    }
    for (const l of doc.lines) {
      const li = document.createElement("li");
      li.dataset.seq = l.seq;
      li.textContent = l.line;        // text, never HTML: log lines come from builds
      list.appendChild(li);
      after = Math.max(after, l.seq);
    }
    if (stateCell) {
      stateCell.textContent = "";
      const s = document.createElement("span");
      s.className = `state state-${doc.state}`;
      s.textContent = doc.state;
      stateCell.appendChild(s);
    }
    if (!["queued", "running"].includes(doc.state) && doc.lines.length === 0) {
      status.textContent = `the job ${doc.state}${doc.reason ? ": " + doc.reason : ""}`;
      window.location.reload();   // the server renders the ended job: its facts and the actions left
      return;
    }
    status.textContent = `following the log live (${after} lines)`;
    await new Promise(ok => setTimeout(ok, doc.lines.length ? 200 : 1000));
  }
}

async function followOutput(list) {
  const status = document.getElementById("output-status");
  let after = Number(list.dataset.after || 0);
  for (let polls = 0; polls < 7200; polls++) {   // bounded: about two hours at one poll a second
    let doc;
    try {
      const r = await fetch(`${list.dataset.src}?after=${after}`, {credentials: "same-origin"});
      if (r.status === 401) { status.textContent = "signed out: reload to sign in again"; return; }
      if (r.status === 404) { status.textContent = "the app was deleted"; return; }
      doc = await r.json();
    } catch (e) {
      status.textContent = "lost contact with the API; retrying";
      await new Promise(ok => setTimeout(ok, 2000));
      continue;
    }
    if (doc.dropped) {
      const li = document.createElement("li");
      li.className = "dropped";
      li.textContent = `${doc.dropped.toLocaleString("en")} line${doc.dropped === 1 ? "" : "s"} dropped`;
      list.appendChild(li);
    }
    for (const l of doc.lines) {
      const li = document.createElement("li");
      li.dataset.seq = l.seq;
      li.title = l.at;
      li.textContent = l.line;        // text, never HTML: an app prints what it likes
      list.appendChild(li);
    }
    after = Math.max(after, doc.last_seq || 0);
    status.textContent = "what the serving container prints, live";
    await new Promise(ok => setTimeout(ok, doc.lines.length ? 250 : 1000));
  }
  status.textContent = "stopped following: reload to go on";
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  const log = document.getElementById("log");
  if (log && log.dataset.follow) followLog(log);
  const output = document.getElementById("output");
  if (output) followOutput(output);
});
