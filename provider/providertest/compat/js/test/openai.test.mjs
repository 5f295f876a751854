// openai 7.60.0 against `imagegen emulator`: the Images API (generations,
// edits with several images and a mask), chat completions with images,
// every fault, the error classes the SDK raises and x-request-id.
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  toFile, APIError, APIConnectionError, APIConnectionTimeoutError, AuthenticationError, BadRequestError,
  ConflictError, InternalServerError, NotFoundError, RateLimitError,
} from 'openai';
import { emulator, openai, PNG, imageSize } from './helpers.mjs';

const REQ_ID = /^req_[0-9a-f]{32}$/;
const gen = (extra = {}) => ({ model: 'gpt-image-2', prompt: 'a kite over the sea', ...extra });

async function rejects(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('no error');
}

// lastRequestID is the x-request-id the emulator recorded last.
async function lastRequestID() {
  return (await emulator.requests()).at(-1).requestId;
}

beforeEach(() => emulator.reset());

describe('openai: images and chat', () => {
  test('images.generate: two gpt-image-2 images at 1536x1024, usage', async () => {
    const resp = await openai().images.generate(gen({ n: 2, size: '1536x1024', quality: 'high' }));
    assert.equal(resp.data.length, 2);
    assert.deepEqual(imageSize(Buffer.from(resp.data[0].b64_json, 'base64')), { format: 'png', width: 1536, height: 1024 });
    assert.equal(resp.size, '1536x1024');
    assert.equal(resp.quality, 'high');
    assert.equal(resp.usage.output_tokens, 2 * 5488);
  });

  test('request_id: withResponse and _request_id carry x-request-id', async () => {
    const { data, response, request_id } = await openai().images.generate(gen()).withResponse();
    assert.match(request_id, REQ_ID);
    assert.equal(response.headers.get('x-request-id'), request_id);
    assert.equal(data._request_id, request_id);
    assert.equal(await lastRequestID(), request_id);
    const again = await openai().images.generate(gen());
    assert.notEqual(again._request_id, request_id, 'each answer has its own id');
  });

  test('images.generate: dall-e-2 with response_format url, served by the emulator', async () => {
    const resp = await openai().images.generate({ model: 'dall-e-2', prompt: 'x', size: '256x256', response_format: 'url' });
    const res = await fetch(resp.data[0].url);
    assert.equal(res.status, 200);
    assert.deepEqual(imageSize(Buffer.from(await res.arrayBuffer())), { format: 'png', width: 256, height: 256 });
  });

  test('images.edit: two images and a mask as multipart', async () => {
    const resp = await openai().images.edit({
      model: 'gpt-image-2',
      prompt: 'put the cat on the sofa',
      image: [await toFile(PNG, 'cat.png', { type: 'image/png' }), await toFile(PNG, 'sofa.png', { type: 'image/png' })],
      mask: await toFile(PNG, 'mask.png', { type: 'image/png' }),
      size: '1024x1024',
    });
    assert.equal(resp.data.length, 1);
    assert.equal(resp.usage.input_tokens_details.image_tokens, 2, 'one 32-px patch per 2x2 reference');
    const [req] = await emulator.requests('images.edits');
    assert.deepEqual(req.files['image[]'].map((f) => f.fileName), ['cat.png', 'sofa.png']);
    assert.equal(req.files.mask[0].fileName, 'mask.png');
    assert.equal(req.form.model[0], 'gpt-image-2');
  });

  test('chat.completions: images in message.images (OpenRouter shape)', async () => {
    const resp = await openai().chat.completions.create({
      model: 'google/gemini-3-pro-image', messages: [{ role: 'user', content: 'a red fox' }], modalities: ['image', 'text'],
    });
    const url = resp.choices[0].message.images[0].image_url.url;
    assert.match(url, /^data:image\/png;base64,/);
    assert.match(resp._request_id, REQ_ID);
  });

  test('chat.completions: markdown shape set through the control endpoint', async () => {
    await emulator.settings({ chatShape: 'markdown' });
    const resp = await openai().chat.completions.create({ model: 'gemini-3-pro-image', messages: [{ role: 'user', content: 'x' }] });
    assert.match(resp.choices[0].message.content, /!\[image\]\(data:image\/png;base64,/);
  });
});

describe('openai: streams (stream: true)', () => {
  const collect = async (stream) => {
    const events = [];
    for await (const ev of stream) events.push(ev);
    return events;
  };
  test('images.generate: partial_images 2, then the completed image with usage', async () => {
    const events = await collect(await openai().images.generate(gen({ stream: true, partial_images: 2, size: '1024x1024' })));
    assert.deepEqual(events.map((e) => e.type),
      ['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
    assert.deepEqual(events.slice(0, 2).map((e) => e.partial_image_index), [0, 1]);
    assert.equal(new Set(events.map((e) => e.b64_json)).size, 3, 'each image differs');
    for (const e of events) {
      assert.deepEqual(imageSize(Buffer.from(e.b64_json, 'base64')), { format: 'png', width: 1024, height: 1024 });
    }
    assert.equal(events[2].usage.output_tokens, 7024);
    assert.equal(events[2].usage.input_tokens_details.image_tokens, 0);
  });
  test('images.edit: stream with partial_images 1 as multipart fields', async () => {
    const events = await collect(await openai().images.edit({
      model: 'gpt-image-2', prompt: 'x', image: await toFile(PNG, 'a.png', { type: 'image/png' }), stream: true, partial_images: 1,
    }));
    assert.deepEqual(events.map((e) => e.type), ['image_edit.partial_image', 'image_edit.completed']);
    const [req] = await emulator.requests('images.edits');
    assert.equal(req.form.stream[0], 'true');
    assert.equal(req.form.partial_images[0], '1');
  });
  test('chat.completions: chunks, the image in delta.images, [DONE]', async () => {
    const chunks = await collect(await openai().chat.completions.create({
      model: 'google/gemini-3-pro-image', messages: [{ role: 'user', content: 'x' }], stream: true,
    }));
    const images = chunks.flatMap((c) => c.choices[0]?.delta?.images ?? []);
    assert.equal(images.length, 1);
    assert.match(images[0].image_url.url, /^data:image\/png;base64,/);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });
  test('StreamError mid-stream: APIError (no status) after the first partial', async () => {
    await emulator.inject('images.generations', [{ kind: 'StreamError' }]);
    const types = [];
    const err = await rejects(async () => {
      for await (const ev of await openai().images.generate(gen({ stream: true, partial_images: 2 }))) types.push(ev.type);
    });
    assert.deepEqual(types, ['image_generation.partial_image']);
    assert.ok(err instanceof APIError, `${err?.name}: ${err?.message}`);
    assert.equal(err.status, undefined);
    assert.equal(err.error?.type, 'server_error');
  });
  test('StreamIncomplete: the stream ends silently, without image_generation.completed', async () => {
    await emulator.inject('images.generations', [{ kind: 'StreamIncomplete' }]);
    const events = await collect(await openai().images.generate(gen({ stream: true, partial_images: 2 })));
    assert.deepEqual(events.map((e) => e.type), ['image_generation.partial_image']);
  });
  test('StreamMalformed: SyntaxError on the cut-off event', async () => {
    await emulator.inject('images.generations', [{ kind: 'StreamMalformed' }]);
    const err = await rejects(async () => {
      for await (const ev of await openai().images.generate(gen({ stream: true, partial_images: 1 }))) assert.ok(ev.type);
    });
    assert.ok(err instanceof SyntaxError, `${err?.name}: ${err?.message}`);
  });
  test('streamMode refused (settings): 400 on stream, never an empty stream', async () => {
    await emulator.settings({ streamMode: 'refused' });
    const err = await rejects(async () => {
      for await (const ev of await openai().images.generate(gen({ stream: true, partial_images: 2 }))) assert.fail(`event ${ev.type}`);
    });
    assert.ok(err instanceof BadRequestError, `${err?.name}: ${err?.message}`);
    assert.equal(err.param, 'stream');
    assert.equal(err.code, 'unsupported_value');
    assert.match(err.requestID, REQ_ID);
    assert.equal((await emulator.stats()).streams, 0);
  });
});

describe('openai: injected faults on images.generations', () => {
  const call = (opts) => openai(opts).images.generate(gen());
  const raises = (Class, status, check) => async (opts) => {
    const err = await rejects(() => call(opts));
    assert.ok(err instanceof Class, `want ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, status);
    if (status !== undefined) assert.equal(err.requestID, await lastRequestID(), 'requestID is the x-request-id');
    if (check) check(err);
  };
  const cases = {
    RateLimited: [{ kind: 'RateLimited', retry: '7s' }, raises(RateLimitError, 429, (err) => {
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.equal(err.headers.get('retry-after'), '7');
      assert.equal(err.headers.get('retry-after-ms'), '7000');
      assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
    })],
    RateLimitedUntil: [{ kind: 'RateLimitedUntil', until: new Date(Date.now() + 90_000).toISOString() }, raises(RateLimitError, 429, (err) => {
      assert.ok(!Number.isNaN(Date.parse(err.headers.get('retry-after'))), 'Retry-After is an HTTP date');
    })],
    DailyQuotaExhausted: [{ kind: 'DailyQuotaExhausted' }, raises(RateLimitError, 429, (err) => assert.equal(err.code, 'insufficient_quota'))],
    QuotaZero: [{ kind: 'QuotaZero' }, raises(RateLimitError, 429, (err) => assert.equal(err.type, 'insufficient_quota'))],
    PaymentRequired: [{ kind: 'PaymentRequired' }, raises(APIError, 402, (err) => {
      assert.equal(err.constructor, APIError, 'openai-node has no class of its own for 402');
      assert.equal(err.code, 'billing_hard_limit_reached');
    })],
    ModelRetired: [{ kind: 'ModelRetired' }, raises(NotFoundError, 404, (err) => assert.equal(err.code, 'model_not_found'))],
    Unavailable: [{ kind: 'Unavailable' }, raises(InternalServerError, 503, (err) => assert.equal(err.type, 'server_error'))],
    ProxyHTML502: [{ kind: 'ProxyHTML502' }, raises(InternalServerError, 502, (err) => assert.match(err.message, /502/))],
    Status: [{ kind: 'Status', code: 409, body: '{"error":{"message":"busy","type":"conflict","param":null,"code":"conflict"}}' },
      raises(ConflictError, 409, (err) => assert.equal(err.code, 'conflict'))],
    SafetyBlock: [{ kind: 'SafetyBlock' }, raises(BadRequestError, 400, (err) => assert.equal(err.code, 'moderation_blocked'))],
    PromptBlocked: [{ kind: 'PromptBlocked' }, raises(BadRequestError, 400, (err) => assert.equal(err.code, 'content_policy_violation'))],
    NoImage: [{ kind: 'NoImage' }, async (opts) => assert.deepEqual((await call(opts)).data, [])],
    Latency: [{ kind: 'Latency', delay: '300ms' }, async (opts) => {
      const t0 = Date.now();
      assert.equal((await call(opts)).data.length, 1);
      assert.ok(Date.now() - t0 >= 290, 'the answer waited');
    }],
    Hang: [{ kind: 'Hang' }, async () => raises(APIConnectionTimeoutError, undefined)({ timeout: 300 })],
    Truncated: [{ kind: 'Truncated' }, async (opts) => {
      const err = await rejects(() => call(opts));
      // The body dies after the status: openai-node passes undici's
      // TypeError through, unwrapped.
      assert.ok(err instanceof TypeError && !(err instanceof APIError), `${err?.constructor?.name}: ${err?.message}`);
      assert.match(err.message, /terminated/);
    }],
    Malformed: [{ kind: 'Malformed' }, async (opts) => {
      const err = await rejects(() => call(opts));
      assert.ok(err instanceof SyntaxError, `${err?.constructor?.name}: ${err?.message}`);
    }],
    Reset: [{ kind: 'Reset' }, raises(APIConnectionError, undefined)],
  };
  for (const [name, [fault, check]] of Object.entries(cases)) {
    test(name, async () => {
      await emulator.inject('images.generations', [fault]);
      await check();
      assert.equal((await call()).data.length, 1, 'the fault was used up');
    });
  }

  test('retries: maxRetries 1 honours retry-after-ms and succeeds', async () => {
    await emulator.inject('images.generations', [{ kind: 'RateLimited', retry: '50ms' }]);
    const resp = await openai({ maxRetries: 1 }).images.generate(gen());
    assert.equal(resp.data.length, 1);
    const reqs = await emulator.requests('images.generations');
    assert.deepEqual(reqs.map((r) => r.header['X-Stainless-Retry-Count'][0]), ['0', '1']);
  });

  test('faults on images.edits and chat.completions', async () => {
    await emulator.inject('images.edits', [{ kind: 'Unavailable' }]);
    await emulator.inject('chat.completions', [{ kind: 'RateLimited', retry: '2s' }]);
    const editErr = await rejects(async () => openai().images.edit({ model: 'gpt-image-2', prompt: 'x', image: await toFile(PNG, 'a.png', { type: 'image/png' }) }));
    assert.ok(editErr instanceof InternalServerError);
    const chatErr = await rejects(() => openai().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }));
    assert.ok(chatErr instanceof RateLimitError);
    assert.equal(chatErr.headers.get('retry-after'), '2');
  });

  test("the emulator's own rate limit: RateLimitError with retry-after", async () => {
    await emulator.settings({ requestsPerMinute: 1 });
    await call();
    const err = await rejects(() => call());
    assert.ok(err instanceof RateLimitError);
    assert.ok(Number(err.headers.get('retry-after')) > 0);
  });
});

describe('openai: errors', () => {
  test('a wrong key: AuthenticationError invalid_api_key, key masked', async () => {
    const err = await rejects(() => openai({ key: 'sk-wrong-key-0123456789' }).images.generate(gen()));
    assert.ok(err instanceof AuthenticationError);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    assert.ok(!err.message.includes('sk-wrong-key-0123456789'), 'the key is masked');
    assert.match(err.requestID, REQ_ID);
  });

  test('a bad size: BadRequestError on param size', async () => {
    const err = await rejects(() => openai().images.generate(gen({ size: '1000x1000' })));
    assert.ok(err instanceof BadRequestError);
    assert.equal(err.param, 'size');
    assert.equal(err.code, 'invalid_value');
  });

  test('an unknown path: NotFoundError in OpenAI\'s envelope', async () => {
    const err = await rejects(() => openai().get('/nothing/here'));
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.requestID, REQ_ID);
  });

  test('GET /v1/models from OpenAI stays OpenAI\'s 404, not Google\'s', async () => {
    const err = await rejects(() => openai().models.list());
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.type, 'invalid_request_error');
  });

  test('a refused connection: APIConnectionError', async () => {
    const client = openai();
    client.baseURL = 'http://127.0.0.1:9/v1'; // the discard port: nothing listens
    const err = await rejects(() => client.images.generate(gen()));
    assert.ok(err instanceof APIConnectionError);
  });
});
