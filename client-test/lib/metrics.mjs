// Prometheus / OpenMetrics text parsing for the admin /metrics endpoint.

import { httpRequest } from './http.mjs';

/** GET /metrics; resolves to {status, headers, text, samples}. */
export async function fetchMetrics(adminUrl) {
  const res = await httpRequest(`${adminUrl}/metrics`);
  return { ...res, samples: parseMetrics(res.text) };
}

function parseLabels(s) {
  const labels = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(s))) labels[m[1]] = m[2].replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
  return labels;
}

/** Parse exposition text into samples {name, labels, value}. Comment lines are skipped. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.push({ name: m[1], labels: m[3] ? parseLabels(m[3]) : {}, value: Number(m[4]) });
  }
  return out;
}

/**
 * True when the metric family exists: a sample named `name`, or a # TYPE line for it (a labelled counter with no
 * sample yet only has its # TYPE/# HELP lines; OpenMetrics names counter families without "_total" and info
 * families without "_info").
 */
export function hasMetric(text, name) {
  const samples = parseMetrics(text);
  if (samples.some((s) => s.name === name)) return true;
  const bases = new Set([name, name.replace(/_total$/, ''), name.replace(/_info$/, '')]);
  return text.split('\n').some((l) => {
    const m = /^# TYPE (\S+) /.exec(l);
    return m && bases.has(m[1]);
  });
}

/** Sum of the samples named `name` whose labels match every entry of `labels` (string or RegExp values). */
export function metricSum(samples, name, labels = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    let ok = true;
    for (const [k, v] of Object.entries(labels)) {
      const have = s.labels[k];
      if (have === undefined || (v instanceof RegExp ? !v.test(have) : have !== v)) ok = false;
    }
    if (ok) sum += s.value;
  }
  return sum;
}

/** Convenience: fetch and sum in one go. */
export async function metricValue(adminUrl, name, labels) {
  const { samples } = await fetchMetrics(adminUrl);
  return metricSum(samples, name, labels);
}
