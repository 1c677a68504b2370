/**
 * The error table and RFC 9457 problem bodies: every code maps to a 4xx/5xx, 5xx never leak detail,
 * only whitelisted details reach clients, Retry-After accompanies 429/503, and Fastify's validation
 * errors name the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { AuthError } from '../auth/errors.js';
import { EventError } from '../core/event.js';
import { LogError } from '../log/errors.js';
import { StorageError } from '../storage/errors.js';
import { HttpError, PROBLEMS, toProblem } from './problem.js';

const request = {
  id: 'req-1',
  url: '/v1/logs/acme/events?wait=checkpoint',
  headers: {},
} as unknown as FastifyRequest;

describe('the problem table', () => {
  it('maps every code to a 4xx or 5xx with a title', () => {
    for (const [code, kind] of Object.entries(PROBLEMS)) {
      assert.ok(kind.status >= 400 && kind.status <= 599, code);
      assert.ok(kind.title.length > 0, code);
      assert.match(code, /^[a-z]+\.[a-z0-9_]+$/, code);
    }
  });

  const statuses: Array<[string, number]> = [
    ['request.invalid', 400],
    ['request.body_too_large', 413],
    ['request.unsupported_media_type', 415],
    ['request.unprocessable', 422],
    ['auth.unauthenticated', 401],
    ['auth.forbidden', 403],
    ['auth.rate_limited', 429],
    ['log.not_found', 404],
    ['log.exists', 409],
    ['log.id_conflict', 409],
    ['idempotency.mismatch', 409],
    ['log.pushback', 503],
    ['event.too_large', 413],
    ['event.unknown_field', 400],
  ];
  for (const [code, status] of statuses) {
    it(`${code} → ${status} (the issue's table)`, () =>
      assert.equal(PROBLEMS[code as keyof typeof PROBLEMS].status, status));
  }
});

describe('toProblem', () => {
  it('builds an RFC 9457 body with code, type, instance (path only) and request id', () => {
    const { problem } = toProblem(
      new LogError('log.not_found', 'no log named "x"', { details: { log: 'x' } }),
      request,
      1,
    );
    assert.deepEqual(problem, {
      type: 'urn:indelible:problem:log.not_found',
      title: 'Log not found',
      status: 404,
      detail: 'no log named "x"',
      code: 'log.not_found',
      instance: '/v1/logs/acme/events',
      request_id: 'req-1',
      log: 'x',
    });
  });

  it('passes only whitelisted details', () => {
    const err = new EventError('event.unknown_field', 'unknown', {
      details: { field: 'colour', fields: ['colour'], secret: 's3cr3t', keyHash: 'abc', event: 2 },
    });
    const { problem } = toProblem(err, request, 1);
    assert.equal(problem.field, 'colour');
    assert.deepEqual(problem.fields, ['colour']);
    assert.equal(problem.event, 2);
    assert.ok(!JSON.stringify(problem).includes('s3cr3t'));
    assert.equal(problem.keyHash, undefined);
  });

  it('hides the detail of server errors and marks them internal', () => {
    const err = new StorageError('storage.io', 'open /var/lib/indelible/secret-path failed', {
      details: { field: 'x' },
    });
    const res = toProblem(err, request, 1);
    assert.equal(res.problem.status, 500);
    assert.equal(res.problem.code, 'storage.io');
    assert.ok(!res.problem.detail.includes('/var/lib'));
    assert.equal(res.problem.field, undefined);
    assert.equal(res.internal, true);
  });

  it('turns unknown errors into 500 server.internal without message or stack', () => {
    const res = toProblem(new TypeError('cannot read x of undefined'), request, 1);
    assert.equal(res.problem.code, 'server.internal');
    assert.equal(res.problem.status, 500);
    assert.ok(!JSON.stringify(res.problem).includes('undefined'));
    assert.ok(!JSON.stringify(res.problem).includes('TypeError'));
  });

  it('adds Retry-After to 503s (configured) and 429s (from the limiter)', () => {
    const pushback = toProblem(new LogError('log.pushback', 'busy'), request, 2);
    assert.equal(pushback.retryAfter, 2);
    assert.equal(pushback.problem.retry_after, 2);
    assert.equal(pushback.internal, false);
    const limited = toProblem(
      new AuthError('auth.rate_limited', 'slow down', { details: { retryAfterSeconds: 7 } }),
      request,
      2,
    );
    assert.equal(limited.problem.status, 429);
    assert.equal(limited.retryAfter, 7);
    assert.equal(toProblem(new HttpError('request.invalid', 'x'), request, 2).retryAfter, undefined);
  });

  const validation = (v: object, context = 'body') =>
    Object.assign(new Error('validation'), {
      code: 'FST_ERR_VALIDATION',
      statusCode: 400,
      validation: [v],
      validationContext: context,
    });

  const fields: Array<[string, object, string]> = [
    [
      'an unknown property',
      { instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'colour' } },
      'colour',
    ],
    [
      'a missing property',
      { instancePath: '', keyword: 'required', params: { missingProperty: 'name' } },
      'name',
    ],
    [
      'a nested value',
      { instancePath: '/events/3/actor/id', keyword: 'type', params: {} },
      'events[3].actor.id',
    ],
    ['an escaped key', { instancePath: '/a~1b', keyword: 'type', params: {} }, 'a/b'],
  ];
  for (const [what, v, field] of fields) {
    it(`names ${what} in Fastify validation errors: ${field}`, () => {
      const { problem } = toProblem(validation(v), request, 1);
      assert.equal(problem.code, 'request.invalid');
      assert.equal(problem.status, 400);
      assert.equal(problem.field, field);
    });
  }

  it('keeps other framework 4xx statuses under request.rejected', () => {
    const err = Object.assign(new Error('bad url'), { code: 'FST_ERR_BAD_URL', statusCode: 400 });
    const { problem } = toProblem(err, request, 1);
    assert.equal(problem.code, 'request.rejected');
    assert.equal(problem.status, 400);
  });
});
