/**
 * The alert rules that watch the access-event stream (docs/MONITORING.md documents each with its
 * defaults). Time comes from the injected clock, never from the event (whose `at` a slow request
 * could make old). A window rule fires when its per-subject sum over the window reaches the
 * threshold; the monitor folds repeats of the same rule and subject within the window into the first
 * alert, so a burst makes one alert and sustained abuse one per window.
 *
 * Subjects: `key:<key id>` for anything an authenticated key did, `ip:<address>` for failures and
 * reads without a valid key.
 */
import type { JsonObject } from '../core/event.js';
import type { AccessInput } from './audit-events.js';
import { clip } from './audit-events.js';
import type { RuleName, RulesConfig } from './config.js';
import { isWithinHours, type LocalTime, localTimeIn } from './hours.js';
import type { KeyState } from './key-state.js';
import { networkOf } from './network.js';
import type { WindowStore } from './window-store.js';
import { BUCKETS_PER_WINDOW, touch, WindowDistinct, WindowSum } from './windows.js';

/** How often a key used from more networks than it remembers may raise `new_address`. */
const HOUR_MS = 60 * 60 * 1000;
/** Networks whose address alerts are remembered (a forgotten one may alert for one more address). */
const MAX_ADDRESS_ALERTS = 10_000;

/**
 * Raises an alert unless `rule` already fired for `subject` within `dedupeMs` (undefined: always).
 * `foldAs` folds under another name than the subject (a kind of alert about the subject that
 * folds apart from its others). Implemented by the monitor (store, audit, metrics, log line, webhooks).
 * Returns whether an alert was raised (false: folded, disabled, or it could not be stored).
 */
export type Raise = (
  rule: RuleName,
  subject: string,
  details: JsonObject,
  dedupeMs: number | undefined,
  foldAs?: string,
) => boolean;

/** Epoch ms of a key's RFC 3339 creation time; undefined when absent or unreadable. */
function createdMs(at: string | null | undefined): number | undefined {
  if (typeof at !== 'string') return undefined;
  const ms = Date.parse(at);
  return Number.isFinite(ms) ? ms : undefined;
}

export class AccessRules {
  private readonly reads: WindowSum;
  private readonly exports: WindowSum;
  private readonly failures: WindowSum;
  /**
   * Refusals of keys, apart from those of addresses and networks: refusals without a key cost
   * nothing to send, and from enough networks they pushed a key's count out of a shared window.
   */
  private readonly keyFailures: WindowSum;
  private readonly actors: WindowDistinct;
  private readonly localTime: ((ms: number) => LocalTime) | undefined;
  /** Address → network, since parsing is the costliest step on this (request) path. */
  private readonly networks = new Map<string, string>();
  /** Network → when one of its addresses last raised `auth_failures` (the others fold into it). */
  private readonly addressAlerts = new Map<string, number>();

  constructor(
    private readonly rules: RulesConfig,
    private readonly keys: KeyState,
    private readonly raise: Raise,
    /** Where the windows outlive a restart (`restore` at start, `persist` periodically); none: memory only. */
    private readonly store?: WindowStore,
  ) {
    this.reads = new WindowSum(rules.bulk_read.windowMs);
    this.exports = new WindowSum(rules.large_export.windowMs);
    this.failures = new WindowSum(rules.auth_failures.windowMs);
    this.keyFailures = new WindowSum(rules.auth_failures.windowMs);
    // One value past the threshold is all the rule needs to remember per key.
    this.actors = new WindowDistinct(rules.enumeration.windowMs, rules.enumeration.threshold + 1);
    this.localTime = rules.off_hours.enabled ? localTimeIn(rules.off_hours.timeZone) : undefined;
  }

  /** The windows by the name they are persisted under. */
  private persisted(): Array<[string, WindowSum | WindowDistinct]> {
    return [
      ['bulk_read', this.reads],
      ['large_export', this.exports],
      ['auth_failures', this.failures],
      ['auth_failures.key', this.keyFailures],
      ['enumeration', this.actors],
    ];
  }

  /** Puts back what the windows held at the last `persist` (before a restart), bounded as in memory. */
  restore(now: number): void {
    if (this.store === undefined) return;
    for (const [name, w] of this.persisted()) {
      const since = now - w.windowMs - Math.ceil(w.windowMs / BUCKETS_PER_WINDOW);
      for (const row of this.store.load(name, since, w.maxSubjects)) w.restore(row.subject, row.state, now);
    }
  }

  /** Writes the subjects whose windows changed since the last call (one transaction per window). */
  persist(now: number): void {
    if (this.store === undefined) return;
    for (const [name, w] of this.persisted()) {
      const expired = now - w.windowMs - Math.ceil(w.windowMs / BUCKETS_PER_WINDOW);
      this.store.save(name, w.takeChanges(now), expired, w.maxSubjects);
    }
  }

  /** Feeds one access event observed at `now`. */
  observe(e: AccessInput, now: number): void {
    const r = this.rules;
    const ip = typeof e.ip === 'string' ? clip(e.ip, 64) : '';
    const subject = e.keyId ? `key:${clip(e.keyId, 128)}` : `ip:${ip}`;
    const count = typeof e.count === 'number' && Number.isSafeInteger(e.count) && e.count > 0 ? e.count : 0;
    const log: JsonObject = typeof e.log === 'string' ? { log: clip(e.log, 64) } : {};

    if (e.kind === 'auth_failure') {
      // A revoked key's secret in use: leaked, or a client nobody updated. Either way, say so.
      if (
        e.keyId &&
        r.revoked_key_used.enabled &&
        (e.filter as { reason?: unknown } | null)?.reason === 'revoked_key'
      ) {
        this.raise(
          'revoked_key_used',
          subject,
          { ip, route: clip(e.route, 256) },
          r.revoked_key_used.windowMs,
        );
      }
      if (!r.auth_failures.enabled) return;
      // Per network too (the prefixes of new_address): failures spread over a /24 (or the 2^64
      // addresses of one IPv6 client) would otherwise stay under the threshold of each address.
      // Only failures of addresses still under it count, so one address does not alert twice; and
      // only those without a valid key (a key's refusals add up under the key).
      const network = ip === '' || e.keyId ? undefined : this.networkOf(ip);
      const inNetwork = network !== undefined && network !== ip;
      // Addresses of one network reaching the threshold one after another make one address alert
      // per network and window (the network's own alert counts the rest): each was an alert of its
      // own, 20 requests apiece from the addresses of any /64, without end.
      const since = inNetwork ? this.addressAlerts.get(network) : undefined;
      const quiet = since !== undefined && now >= since && now - since < r.auth_failures.windowMs;
      const [fromIp, raised] = this.windowRule(
        'auth_failures',
        this.failures,
        `ip:${ip}`,
        1,
        now,
        { ip, ...(inNetwork ? { network } : {}), route: clip(e.route, 256) },
        quiet,
      );
      if (inNetwork && raised) touch(this.addressAlerts, network, now, MAX_ADDRESS_ALERTS);
      if (inNetwork && fromIp < r.auth_failures.threshold) {
        this.windowRule('auth_failures', this.failures, `net:${network}`, 1, now, {
          ip,
          network,
          route: clip(e.route, 256),
        });
      }
      if (e.keyId)
        this.windowRule('auth_failures', this.keyFailures, subject, 1, now, {
          ip,
          route: clip(e.route, 256),
        });
      return;
    }

    // Entries of a log: a listing of alerts (no log) reads no event data and is not a bulk read.
    if (e.kind === 'read' && r.bulk_read.enabled && count > 0 && typeof e.log === 'string') {
      this.windowRule('bulk_read', this.reads, subject, count, now, log);
    }
    if (e.kind === 'export' && r.large_export.enabled && count > 0) {
      this.windowRule('large_export', this.exports, subject, count, now, log);
    }
    // Who or what a search singles out: an actor, a target, or free text (which finds the same
    // people: q=user17 evaded a rule that counted actor= alone). Distinct values, all together.
    const named = (['actor', 'target', 'q'] as const)
      .map((k) =>
        typeof e.filter?.[k] === 'string' ? `${k}=${clip(e.filter[k] as string, 256)}` : undefined,
      )
      .filter((v) => v !== undefined);
    if ((e.kind === 'read' || e.kind === 'export') && r.enumeration.enabled && named.length > 0) {
      let distinct = 0;
      for (const value of named) distinct = this.actors.add(subject, value, now);
      if (distinct >= r.enumeration.threshold) {
        this.raise(
          'enumeration',
          subject,
          {
            distinct_filters: distinct,
            threshold: r.enumeration.threshold,
            window_ms: r.enumeration.windowMs,
            ...log,
          },
          r.enumeration.windowMs,
        );
      }
    }
    if (e.keyId) this.keyRules(e.keyId, subject, ip, now, createdMs(e.keyCreatedAt));
  }

  private windowRule(
    rule: 'bulk_read' | 'large_export' | 'auth_failures',
    window: WindowSum,
    subject: string,
    amount: number,
    now: number,
    extra: JsonObject,
    quiet = false,
  ): [total: number, raised: boolean] {
    const cfg = this.rules[rule];
    const total = window.add(subject, amount, now);
    if (total < cfg.threshold || quiet) return [total, false];
    const details: JsonObject = { total, threshold: cfg.threshold, window_ms: cfg.windowMs, ...extra };
    return [total, this.raise(rule, subject, details, cfg.windowMs)];
  }

  /** The network of an address (new_address's prefixes), cached for the 4,096 last addresses. */
  private networkOf(ip: string): string {
    let network = this.networks.get(ip);
    if (network === undefined) {
      const r = this.rules.new_address;
      network = networkOf(ip, r.ipv4PrefixLength, r.ipv6PrefixLength);
      if (this.networks.size >= 4096) this.networks.clear();
      this.networks.set(ip, network);
    }
    return network;
  }

  /** Rules about the key itself: where it is used from, after how long, and at what local time. */
  private keyRules(
    keyId: string,
    subject: string,
    ip: string,
    now: number,
    createdAt: number | undefined,
  ): void {
    const r = this.rules;
    if (r.new_address.enabled || r.dormant_key.enabled) {
      // No address (none could be read): a use of the key, but nothing to compare networks with.
      const network = ip === '' ? undefined : this.networkOf(ip);
      const seen = this.keys.see(clip(keyId, 128), network, now);
      if (r.new_address.enabled && seen.newNetwork && network !== undefined) {
        // Each network is new once, and a second new network is news too: no folding. Except for a
        // key at its bound of remembered networks, which forgets the least recent: rotating over
        // more networks than that would make each use "new" (an alert storm). Such a key gets one
        // alert per hour, which says so.
        const crowded = seen.knownNetworks >= r.new_address.maxNetworksPerKey;
        this.raise(
          'new_address',
          subject,
          { ip, network, known_networks: seen.knownNetworks, ...(crowded ? { many_networks: true } : {}) },
          crowded ? HOUR_MS : undefined,
          crowded ? `${subject}#many_networks` : undefined,
        );
      }
      // A key never seen used before is dormant since it was created: a key minted long ago and
      // left unused is as suspicious on its first use as one that fell silent. (The key store's
      // last_used_at cannot serve: authentication has already set it to this very use.)
      const previous = seen.previousSeen ?? createdAt;
      if (r.dormant_key.enabled && previous !== undefined && now - previous >= r.dormant_key.dormantMs) {
        this.raise(
          'dormant_key',
          subject,
          {
            last_seen: new Date(previous).toISOString(),
            ...(seen.previousSeen === undefined ? { first_use: true } : {}),
            dormant_ms: now - previous,
            threshold_ms: r.dormant_key.dormantMs,
            ip,
          },
          undefined,
        );
      }
    }
    if (this.localTime !== undefined) {
      const t = this.localTime(now);
      if (!isWithinHours(t, r.off_hours.allowed)) {
        this.raise(
          'off_hours',
          subject,
          { local_time: t.time, weekday: t.weekday, time_zone: r.off_hours.timeZone, ip },
          r.off_hours.windowMs,
        );
      }
    }
  }
}
