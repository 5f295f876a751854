// Shared helpers: the emulator's URL and key, its control endpoint, and
// SDK clients pointed at it. EMULATOR_URL is set by .ci/run (or by hand:
// `imagegen emulator --addr 127.0.0.1:8080` then
// EMULATOR_URL=http://127.0.0.1:8080 npm test).
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';

export const URL_ = process.env.EMULATOR_URL;
if (!URL_) {
  throw new Error('EMULATOR_URL is not set: start `imagegen emulator` and point EMULATOR_URL at it');
}
export const KEY = process.env.EMULATOR_KEY || 'test-key';

// Timeouts keep a Hang fault from hanging the suite: js-genai has no
// default timeout at all. Generous, so that a loaded machine cannot fail a
// check; the Hang checks set their own, short one.
export const TIMEOUT_MS = 30_000;

async function control(method, path, body) {
  const res = await fetch(`${URL_}/_emulator/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) {
    throw new Error(`control ${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  }
  return json;
}

export const emulator = {
  inject: (endpoint, faults, probability) =>
    control('POST', 'faults', { endpoint, faults, ...(probability ? { probability } : {}) }),
  clearFaults: () => control('DELETE', 'faults'),
  requests: async (endpoint) =>
    (await control('GET', `requests${endpoint ? `?endpoint=${encodeURIComponent(endpoint)}` : ''}`)).requests,
  stats: () => control('GET', 'stats'),
  reset: () => control('POST', 'reset'),
  advance: (duration) => control('POST', 'clock', { advance: duration }),
  settings: (s) => control('POST', 'settings', s),
  expireBatch: (name) => control('POST', `${name}:expire`),
};

// genai makes a Gemini API client; apiVersion 'default' leaves the SDK's
// own default (v1 in 3.x).
export function genai({ apiVersion = 'v1beta', key = KEY, timeout = TIMEOUT_MS } = {}) {
  const httpOptions = { baseUrl: URL_, timeout };
  if (apiVersion !== 'default') httpOptions.apiVersion = apiVersion;
  return new GoogleGenAI({ apiKey: key, httpOptions });
}

// vertex makes a Vertex AI client in express mode (an API key, no Google
// credentials): js-genai serves Imagen's generateImages only there.
export function vertex({ key = KEY, timeout = TIMEOUT_MS } = {}) {
  return new GoogleGenAI({ vertexai: true, apiKey: key, httpOptions: { baseUrl: URL_, timeout } });
}

export function openai({ key = KEY, maxRetries = 0, timeout = TIMEOUT_MS } = {}) {
  return new OpenAI({ apiKey: key, baseURL: `${URL_}/v1`, maxRetries, timeout });
}

// A small PNG: 2x2 pixels.
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==',
  'base64',
);

// imageSize reads the width and height of PNG or JPEG bytes.
export function imageSize(buf) {
  if (buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { format: 'png', width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  }
  if (buf[0] === 0xff && buf[1] === 0xd8) {
    let i = 2;
    while (i < buf.length) {
      const marker = buf[i + 1];
      const len = buf.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xc3) {
        return { format: 'jpeg', height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
      }
      i += 2 + len;
    }
  }
  return { format: 'unknown' };
}
