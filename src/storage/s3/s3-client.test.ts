// Client configuration and layout (no server needed): validation tables, URLs, environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { archiveRoots, logLayout, parseS3Url, resolveS3Config, s3ConnectionFromEnv } from './s3-client.js';

test('resolveS3Config fills documented defaults', () => {
  assert.deepEqual(resolveS3Config({ bucket: 'audit-archive' }), {
    bucket: 'audit-archive',
    prefix: '',
    region: 'us-east-1',
    endpoint: undefined,
    credentials: undefined,
    forcePathStyle: false,
    checksums: 'when_required',
    maxAttempts: 3,
  });
});

test('resolveS3Config refuses each invalid field with a RangeError', () => {
  const bad: Array<[string, Parameters<typeof resolveS3Config>[0]]> = [
    ['bucket too short', { bucket: 'ab' }],
    ['bucket upper case', { bucket: 'Audit' }],
    ['bucket with slash', { bucket: 'a/b/c' }],
    ['prefix with leading slash', { bucket: 'abc', prefix: '/x' }],
    ['prefix with trailing slash', { bucket: 'abc', prefix: 'x/' }],
    ['prefix with dot-dot', { bucket: 'abc', prefix: 'a/../b' }],
    ['prefix with space', { bucket: 'abc', prefix: 'a b' }],
    ['endpoint without scheme', { bucket: 'abc', endpoint: '127.0.0.1:7480' }],
    ['endpoint with a path', { bucket: 'abc', endpoint: 'http://h/path' }],
    ['maxAttempts 0', { bucket: 'abc', maxAttempts: 0 }],
    ['maxAttempts fractional', { bucket: 'abc', maxAttempts: 1.5 }],
    ['checksums unknown', { bucket: 'abc', checksums: 'always' as never }],
    ['credentials without secret', { bucket: 'abc', credentials: { accessKeyId: 'a' } as never }],
  ];
  for (const [why, config] of bad) assert.throws(() => resolveS3Config(config), RangeError, why);
  for (const prefix of ['', 'indelible', 'a/b.c/d-e_f']) {
    assert.equal(resolveS3Config({ bucket: 'abc', prefix }).prefix, prefix);
  }
  assert.equal(
    resolveS3Config({ bucket: 'abc', endpoint: 'https://s3.example:9000' }).endpoint,
    'https://s3.example:9000',
  );
});

test('parseS3Url splits bucket and prefix', () => {
  const table: Array<[string, { bucket: string; prefix: string }]> = [
    ['s3://bucket', { bucket: 'bucket', prefix: '' }],
    ['s3://bucket/', { bucket: 'bucket', prefix: '' }],
    ['s3://bucket/a/b', { bucket: 'bucket', prefix: 'a/b' }],
    ['s3://bucket/a/b/', { bucket: 'bucket', prefix: 'a/b' }],
  ];
  for (const [url, want] of table) assert.deepEqual(parseS3Url(url), want, url);
  for (const url of ['http://bucket/a', 's3:/bucket', 's3://', 'bucket/a']) {
    assert.throws(() => parseS3Url(url), RangeError, url);
  }
});

test('connection settings come from the S3_* variables start-s3.sh prints', () => {
  assert.deepEqual(
    s3ConnectionFromEnv({
      S3_ENDPOINT: 'http://127.0.0.1:7480',
      S3_ACCESS_KEY: 'AK',
      S3_SECRET_KEY: 'SK',
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
    }),
    {
      endpoint: 'http://127.0.0.1:7480',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
      forcePathStyle: true,
    },
  );
  assert.deepEqual(s3ConnectionFromEnv({}), {}, 'nothing set: the SDK defaults (AWS chain) apply');
});

test('the locked and mutable prefixes are split at the top, per log below', () => {
  assert.deepEqual(archiveRoots(''), { sealed: 'sealed/', mutable: 'mutable/' });
  assert.deepEqual(logLayout('indelible/prod', 'acme'), {
    sealed: 'indelible/prod/sealed/acme/',
    mutable: 'indelible/prod/mutable/acme/',
  });
});
