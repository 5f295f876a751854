// @google/genai 3.3.0 against `imagegen emulator`: the Gemini API's
// generateContent, chats, Imagen's predict, the Files API, Batch Mode,
// every fault and the errors the SDK raises.
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '@google/genai';
import { emulator, genai, vertex, PNG, imageSize } from './helpers.mjs';

const MODEL = 'gemini-3-pro-image';
const text = (t) => [{ role: 'user', parts: [{ text: t }] }];

function finalImage(resp) {
  const parts = resp.candidates?.[0]?.content?.parts ?? [];
  const images = parts.filter((p) => p.inlineData && !p.thought);
  return images.at(-1);
}

// rejects runs fn and returns what it threw.
async function rejects(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('no error');
}

// googleError parses an ApiError's message, the JSON body.
function googleError(err) {
  assert.ok(err instanceof ApiError, `want ApiError, got ${err?.name}: ${err?.message}`);
  return JSON.parse(err.message).error;
}

beforeEach(() => emulator.reset());

describe('genai: generate and edit', () => {
  test('generateContent: text to image at 2K', async () => {
    const resp = await genai().models.generateContent({
      model: MODEL,
      contents: 'a red fox',
      config: { responseModalities: ['IMAGE'], imageConfig: { imageSize: '2K', aspectRatio: '1:1' } },
    });
    const img = finalImage(resp);
    assert.equal(img.inlineData.mimeType, 'image/jpeg');
    assert.deepEqual(imageSize(Buffer.from(img.inlineData.data, 'base64')), { format: 'jpeg', width: 2048, height: 2048 });
    assert.ok(img.thoughtSignature, 'the final image carries a thought signature');
    assert.ok(resp.candidates[0].content.parts.some((p) => p.thought), 'drafts are thought parts');
    assert.equal(resp.usageMetadata.candidatesTokenCount, 1120);
    assert.equal(resp.candidates[0].finishReason, 'STOP');
  });

  test('generateContent on the SDK default API version (v1)', async () => {
    const resp = await genai({ apiVersion: 'default' }).models.generateContent({ model: MODEL, contents: 'a kite' });
    assert.ok(finalImage(resp));
    const [req] = await emulator.requests('generateContent');
    assert.equal(req.path, `/v1/models/${MODEL}:generateContent`);
    assert.equal(req.header['X-Goog-Api-Key'][0], 'REDACTED');
    assert.match(req.header['User-Agent'][0], /google-genai-sdk\/3\.3\.0/);
  });

  test('edit: two reference images and a prompt', async () => {
    const b64 = PNG.toString('base64');
    const resp = await genai().models.generateContent({
      model: MODEL,
      contents: [{
        role: 'user',
        parts: [
          { inlineData: { mimeType: 'image/png', data: b64 } },
          { inlineData: { mimeType: 'image/png', data: b64 } },
          { text: 'put the first subject into the second scene' },
        ],
      }],
    });
    assert.ok(finalImage(resp));
    const image = resp.usageMetadata.promptTokensDetails.find((d) => d.modality === 'IMAGE');
    assert.equal(image.tokenCount, 1120, '560 tokens per input image on Gemini 3');
    const [req] = await emulator.requests('generateContent');
    assert.equal(req.json.contents[0].parts.filter((p) => p.inlineData).length, 2);
  });

  test('session: chats send the thought signatures back', async () => {
    const chat = genai().chats.create({ model: MODEL, config: { responseModalities: ['TEXT', 'IMAGE'] } });
    const first = await chat.sendMessage({ message: 'a lighthouse at dusk' });
    assert.ok(finalImage(first));
    const second = await chat.sendMessage({ message: 'now at dawn' });
    assert.ok(finalImage(second));
    const reqs = await emulator.requests('generateContent');
    assert.equal(reqs.length, 2);
    const modelTurn = reqs[1].json.contents.find((c) => c.role === 'model');
    const signed = modelTurn.parts.filter((p) => !p.thought && (p.inlineData || p.text));
    assert.ok(signed.length > 0 && signed.every((p) => p.thoughtSignature), 'every non-thought part keeps its signature');
  });

  test('session: a model turn without its signature is refused (400)', async () => {
    const err = await rejects(() => genai().models.generateContent({
      model: MODEL,
      contents: [
        ...text('a lighthouse'),
        { role: 'model', parts: [{ inlineData: { mimeType: 'image/png', data: PNG.toString('base64') } }] },
        ...text('now at dawn'),
      ],
    }));
    assert.equal(err.status, 400);
    const e = googleError(err);
    assert.equal(e.status, 'INVALID_ARGUMENT');
    assert.match(e.message, /thought_signature/);
  });

  test('Imagen: generateImages through :predict (Vertex AI, express mode)', async () => {
    const resp = await vertex().models.generateImages({
      model: 'imagen-4.0-generate-001', prompt: 'a lighthouse', config: { numberOfImages: 2, aspectRatio: '16:9' },
    });
    assert.equal(resp.generatedImages.length, 2);
    const size = imageSize(Buffer.from(resp.generatedImages[0].image.imageBytes, 'base64'));
    assert.ok(size.width > size.height, `16:9 gives a landscape image, got ${JSON.stringify(size)}`);
    const [req] = await emulator.requests('predict');
    assert.equal(req.path, '/v1beta1/publishers/google/models/imagen-4.0-generate-001:predict');
  });
});

describe('genai: Files API', () => {
  test('upload, get, list (paged), delete', async () => {
    const ai = genai();
    const names = [];
    for (const n of [1, 2, 3]) {
      const f = await ai.files.upload({
        file: new Blob([`line ${n}\n`], { type: 'text/plain' }),
        config: { mimeType: 'text/plain', displayName: `file ${n}` },
      });
      assert.match(f.name, /^files\/[a-z0-9-]+$/);
      assert.equal(f.state, 'ACTIVE');
      assert.equal(f.source, 'UPLOADED');
      assert.equal(f.downloadUri, undefined, 'uploaded files have no downloadUri');
      names.push(f.name);
    }
    const got = await ai.files.get({ name: names[0] });
    assert.equal(got.displayName, 'file 1');
    assert.equal(got.sizeBytes, '7');

    const listed = [];
    const pager = await ai.files.list({ config: { pageSize: 2 } });
    for await (const f of pager) listed.push(f.name);
    assert.deepEqual([...listed].sort(), [...names].sort());
    assert.equal((await emulator.stats()).perEndpoint['files.list'], 2, 'two pages');

    await ai.files.delete({ name: names[0] });
    const err = await rejects(() => ai.files.get({ name: names[0] }));
    assert.equal(err.status, 403);
    assert.equal(googleError(err).status, 'PERMISSION_DENIED');
  });

  test('upload under v1 starts at /upload/v1/files and the session URL keeps v1', async () => {
    const f = await genai({ apiVersion: 'v1' }).files.upload({
      file: new Blob(['hello'], { type: 'text/plain' }), config: { mimeType: 'text/plain' },
    });
    assert.ok(f.name);
    const reqs = await emulator.requests('files.upload');
    assert.deepEqual(reqs.map((r) => r.path), ['/upload/v1/files', '/upload/v1/files']);
    assert.equal(reqs[1].header['X-Goog-Upload-Command'][0], 'upload, finalize');
  });

  test('list under v1 is the Files API, not an OpenAI 404', async () => {
    const pager = await genai({ apiVersion: 'v1' }).files.list();
    const listed = [];
    for await (const f of pager) listed.push(f);
    assert.equal(listed.length, 0);
  });

  test('download a generated file (a batch responses file)', async () => {
    const ai = genai();
    const jsonl = [
      JSON.stringify({ key: 'k1', request: { contents: text('a cat') } }),
      JSON.stringify({ key: 'k2', request: { contents: text('FAIL_ITEM a dog') } }),
    ].join('\n');
    const input = await ai.files.upload({
      file: new Blob([jsonl], { type: 'application/jsonl' }), config: { mimeType: 'application/jsonl' },
    });
    const job = await ai.batches.create({ model: MODEL, src: input.name });
    await emulator.advance('2m');
    const done = await ai.batches.get({ name: job.name });
    assert.equal(done.state, 'JOB_STATE_SUCCEEDED');
    assert.match(done.dest.fileName, /^files\//);
    const path = join(tmpdir(), `genai-download-${process.pid}.jsonl`);
    try {
      await ai.files.download({ file: done.dest.fileName, downloadPath: path });
      const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.key), ['k1', 'k2']);
      assert.ok(lines[0].response.candidates);
      assert.equal(lines[1].error.code, 13);
    } finally {
      await rm(path, { force: true });
    }
  });

  test('download of an uploaded file is refused (400)', async () => {
    const ai = genai();
    const f = await ai.files.upload({ file: new Blob(['x'], { type: 'text/plain' }), config: { mimeType: 'text/plain' } });
    const path = join(tmpdir(), `genai-refused-${process.pid}`);
    const err = await rejects(() => ai.files.download({ file: f.name, downloadPath: path }));
    await rm(path, { force: true });
    assert.equal(err.status, 400);
    assert.match(googleError(err).message, /not downloadable/);
  });
});

describe('genai: Batch Mode', () => {
  const inline = (...prompts) => prompts.map((p) => ({ contents: text(p) }));

  test('create inline, get through PENDING, RUNNING, SUCCEEDED, results', async () => {
    const ai = genai();
    const job = await ai.batches.create({ model: MODEL, src: inline('a cat', 'FAIL_ITEM a dog'), config: { displayName: 'two' } });
    assert.match(job.name, /^batches\//);
    assert.equal(job.state, 'JOB_STATE_PENDING');
    await emulator.advance('30s');
    assert.equal((await ai.batches.get({ name: job.name })).state, 'JOB_STATE_RUNNING');
    await emulator.advance('30s');
    const done = await ai.batches.get({ name: job.name });
    assert.equal(done.state, 'JOB_STATE_SUCCEEDED');
    assert.equal(done.displayName, 'two');
    const results = done.dest.inlinedResponses;
    assert.equal(results.length, 2);
    assert.ok(finalImage(results[0].response));
    assert.equal(results[1].error.code, 13);
  });

  test('list, newest first', async () => {
    const ai = genai();
    const a = await ai.batches.create({ model: MODEL, src: inline('a') });
    const b = await ai.batches.create({ model: MODEL, src: inline('b') });
    const names = [];
    for await (const j of await ai.batches.list({ config: { pageSize: 1 } })) names.push(j.name);
    assert.deepEqual(names, [b.name, a.name]);
  });

  test('cancel, then delete', async () => {
    const ai = genai();
    const job = await ai.batches.create({ model: MODEL, src: inline('a') });
    await ai.batches.cancel({ name: job.name });
    assert.equal((await ai.batches.get({ name: job.name })).state, 'JOB_STATE_CANCELLED');
    await ai.batches.delete({ name: job.name });
    const err = await rejects(() => ai.batches.get({ name: job.name }));
    assert.equal(err.status, 404);
  });

  test('expire through the control endpoint', async () => {
    const ai = genai();
    const job = await ai.batches.create({ model: MODEL, src: inline('a') });
    await emulator.expireBatch(job.name);
    assert.equal((await ai.batches.get({ name: job.name })).state, 'JOB_STATE_EXPIRED');
  });
});

describe('genai: injected faults on generateContent', () => {
  const generate = (opts) => genai(opts).models.generateContent({ model: MODEL, contents: 'x' });
  const apiError = (status, check) => async (opts) => {
    const err = await rejects(() => generate(opts));
    assert.equal(err.status, status);
    if (check) check(err);
  };
  const detail = (e, type) => e.details?.find((d) => d['@type'] === `type.googleapis.com/google.rpc.${type}`);
  const cases = {
    RateLimited: [{ kind: 'RateLimited', retry: '7s' }, apiError(429, (err) => {
      const e = googleError(err);
      assert.equal(e.status, 'RESOURCE_EXHAUSTED');
      assert.equal(detail(e, 'RetryInfo').retryDelay, '7s');
      assert.equal(detail(e, 'QuotaFailure').violations[0].quotaId, 'GenerateRequestsPerMinutePerProjectPerModel');
    })],
    RateLimitedUntil: [{ kind: 'RateLimitedUntil', until: new Date(Date.now() + 90_000).toISOString() }, apiError(429, (err) => {
      assert.match(detail(googleError(err), 'RetryInfo').retryDelay, /^(89|90)(\.\d+)?s$/);
    })],
    DailyQuotaExhausted: [{ kind: 'DailyQuotaExhausted' }, apiError(429, (err) => {
      assert.equal(detail(googleError(err), 'QuotaFailure').violations[0].quotaId, 'GenerateRequestsPerDayPerProjectPerModel');
    })],
    QuotaZero: [{ kind: 'QuotaZero' }, apiError(429, (err) => assert.match(googleError(err).message, /limit: 0/))],
    PaymentRequired: [{ kind: 'PaymentRequired' }, apiError(402, (err) => assert.match(googleError(err).message, /prepaid credits/))],
    ModelRetired: [{ kind: 'ModelRetired' }, apiError(404, (err) => {
      assert.match(googleError(err).message, new RegExp(`models/${MODEL} is not found for API version v1beta`));
    })],
    Unavailable: [{ kind: 'Unavailable' }, apiError(503, (err) => assert.equal(googleError(err).status, 'UNAVAILABLE'))],
    ProxyHTML502: [{ kind: 'ProxyHTML502' }, apiError(502, (err) => assert.ok(err instanceof ApiError))],
    Status: [{ kind: 'Status', code: 418, body: '{"error":{"code":418,"message":"teapot","status":"UNKNOWN"}}' },
      apiError(418, (err) => assert.equal(googleError(err).message, 'teapot'))],
    SafetyBlock: [{ kind: 'SafetyBlock', reason: 'IMAGE_SAFETY' }, async (opts) => {
      const resp = await generate(opts);
      assert.equal(resp.candidates[0].finishReason, 'IMAGE_SAFETY');
      assert.equal(finalImage(resp), undefined);
    }],
    PromptBlocked: [{ kind: 'PromptBlocked', reason: 'PROHIBITED_CONTENT' }, async (opts) => {
      const resp = await generate(opts);
      assert.equal(resp.promptFeedback.blockReason, 'PROHIBITED_CONTENT');
      assert.equal(resp.candidates, undefined);
    }],
    NoImage: [{ kind: 'NoImage' }, async (opts) => {
      const resp = await generate(opts);
      assert.equal(resp.candidates[0].finishReason, 'NO_IMAGE');
      assert.equal(finalImage(resp), undefined);
    }],
    Latency: [{ kind: 'Latency', delay: '300ms' }, async (opts) => {
      const t0 = Date.now();
      assert.ok(finalImage(await generate(opts)));
      assert.ok(Date.now() - t0 >= 290, 'the answer waited');
    }],
    Hang: [{ kind: 'Hang' }, async () => {
      const err = await rejects(() => generate({ timeout: 300 }));
      assert.ok(!(err instanceof ApiError), `a timeout is not an ApiError: ${err}`);
      assert.equal(err.name, 'AbortError');
    }],
    Truncated: [{ kind: 'Truncated' }, async (opts) => {
      const err = await rejects(() => generate(opts));
      assert.ok(err instanceof TypeError, `${err?.name}: ${err?.message}`);
      assert.match(err.message, /terminated/);
    }],
    Malformed: [{ kind: 'Malformed' }, async (opts) => {
      const err = await rejects(() => generate(opts));
      assert.ok(err instanceof SyntaxError, `${err?.name}: ${err?.message}`);
    }],
    Reset: [{ kind: 'Reset' }, async (opts) => {
      const err = await rejects(() => generate(opts));
      assert.ok(err instanceof TypeError, `fetch failed: ${err?.name}: ${err?.message}`);
    }],
  };
  for (const [name, [fault, check]] of Object.entries(cases)) {
    test(name, async () => {
      await emulator.inject('generateContent', [fault]);
      await check();
      // The fault was used up: the next call succeeds.
      assert.ok(finalImage(await generate()));
    });
  }

  test('ModelRetired names v1 on a v1 request', async () => {
    await emulator.inject('generateContent', [{ kind: 'ModelRetired' }]);
    await apiError(404, (err) => {
      assert.match(googleError(err).message, /is not found for API version v1, or is not supported for generateContent/);
    })({ apiVersion: 'v1' });
  });

  test('PartialFilter on Imagen predict', async () => {
    await emulator.inject('predict', [{ kind: 'PartialFilter', n: 1 }]);
    const resp = await vertex().models.generateImages({
      model: 'imagen-4.0-generate-001', prompt: 'x', config: { numberOfImages: 3, includeRaiReason: true },
    });
    assert.equal(resp.generatedImages.filter((g) => g.image?.imageBytes).length, 2);
    assert.equal(resp.generatedImages.filter((g) => g.raiFilteredReason).length, 1);
  });

  test('Vertex AI predict: a 429 without details (no RetryInfo)', async () => {
    await emulator.inject('predict', [{ kind: 'RateLimited', retry: '7s' }]);
    const err = await rejects(() => vertex().models.generateImages({ model: 'imagen-4.0-generate-001', prompt: 'x' }));
    assert.equal(err.status, 429);
    const e = googleError(err);
    assert.equal(e.details, undefined);
    assert.match(e.message, /online_prediction_requests_per_base_model/);
  });

  test('random faults on every endpoint ("*", probability 1), then cleared', async () => {
    await emulator.inject('*', [{ kind: 'Unavailable' }], 1);
    assert.equal((await rejects(() => generate())).status, 503);
    await emulator.clearFaults();
    assert.ok(finalImage(await generate()));
    assert.equal((await emulator.stats()).faulted, 1);
  });

  test("the emulator's own rate limit: 429 with RetryInfo", async () => {
    await emulator.settings({ requestsPerMinute: 1 });
    await generate();
    const err = await rejects(() => generate());
    assert.equal(err.status, 429);
    assert.ok(detail(googleError(err), 'RetryInfo'));
    await emulator.advance('61s');
    assert.ok(finalImage(await generate()));
  });
});

describe('genai: errors', () => {
  test('a wrong key: ApiError 400 API_KEY_INVALID', async () => {
    const err = await rejects(() => genai({ key: 'wrong' }).models.generateContent({ model: MODEL, contents: 'x' }));
    assert.equal(err.status, 400);
    const e = googleError(err);
    assert.equal(e.status, 'INVALID_ARGUMENT');
    assert.equal(e.details[0].reason, 'API_KEY_INVALID');
  });

  test("an unknown path under v1 answers Google's NOT_FOUND (models.list)", async () => {
    const err = await rejects(async () => {
      for await (const m of await genai({ apiVersion: 'v1' }).models.list()) assert.fail(`listed ${m.name}`);
    });
    assert.equal(err.status, 404);
    assert.equal(googleError(err).status, 'NOT_FOUND');
  });

  test('generateContentStream: StreamError mid-stream is ApiError 503 after the first draft', async () => {
    await emulator.inject('streamGenerateContent', [{ kind: 'StreamError' }]);
    const kinds = [];
    const err = await rejects(async () => {
      for await (const chunk of await genai().models.generateContentStream({
        model: MODEL, contents: 'x', config: { thinkingConfig: { includeThoughts: true } },
      })) {
        for (const p of chunk.candidates[0].content.parts) kinds.push(p.inlineData ? (p.thought ? 'draft' : 'final') : 'thought');
      }
    });
    assert.deepEqual(kinds, ['thought', 'draft']);
    assert.ok(err instanceof ApiError, `${err?.name}: ${err?.message}`);
    assert.equal(err.status, 503);
    assert.match(err.message, /UNAVAILABLE/);
  });

  test('generateContentStream: a thought, two drafts, then the final image', async () => {
    const kinds = [];
    let last;
    for await (const chunk of await genai().models.generateContentStream({
      model: MODEL, contents: 'x', config: { thinkingConfig: { includeThoughts: true } },
    })) {
      for (const p of chunk.candidates[0].content.parts) {
        kinds.push(p.inlineData ? (p.thought ? 'draft' : 'final') : 'thought');
      }
      last = chunk;
    }
    assert.deepEqual(kinds, ['thought', 'draft', 'draft', 'final']);
    assert.equal(last.candidates[0].finishReason, 'STOP');
    assert.ok(last.candidates[0].content.parts[0].thoughtSignature);
    assert.equal(last.usageMetadata.candidatesTokenCount, 1120);
    const [req] = await emulator.requests('streamGenerateContent');
    assert.equal(req.rawQuery, 'alt=sse');
  });
});
