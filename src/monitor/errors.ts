/** Coded errors of the monitor (self-audit, alert rules, alert store, webhooks). */
import { IndelibleError } from '../core/errors.js';

export type MonitorErrorCode =
  /** The monitor configuration is invalid; the message names the option. */
  | 'monitor.invalid_config'
  /** No alert has this id. */
  | 'monitor.alert_not_found'
  /** A key tried to acknowledge an alert about itself (separation of duties). */
  | 'monitor.self_ack'
  /** An alert listing filter or cursor is malformed (`details.field` names it). */
  | 'monitor.invalid_query'
  /** The monitor was closed. */
  | 'monitor.closed';

export class MonitorError extends IndelibleError<MonitorErrorCode> {}
