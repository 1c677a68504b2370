/**
 * "Access outside configured hours": the local weekday and time of an instant in an IANA time zone
 * (through Intl, so daylight saving time is the platform's), checked against allowed periods.
 */
import { type AllowedHours, parseHhMm } from './config.js';

const WEEKDAYS: Readonly<Record<string, number>> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

export interface LocalTime {
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
  /** Minutes after local midnight. */
  minutes: number;
  /** `HH:MM`. */
  time: string;
}

/** A function from epoch ms to local weekday and time in `timeZone` (validated by the config). */
export function localTimeIn(timeZone: string): (ms: number) => LocalTime {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  return (ms) => {
    let weekday = 0;
    let hour = 0;
    let minute = 0;
    for (const p of format.formatToParts(ms)) {
      if (p.type === 'weekday') weekday = WEEKDAYS[p.value] ?? 0;
      else if (p.type === 'hour') hour = Number(p.value) % 24;
      else if (p.type === 'minute') minute = Number(p.value);
    }
    const time = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
    return { weekday, minutes: hour * 60 + minute, time };
  };
}

/** True when the local time falls in one of the periods (`from` inclusive, `to` exclusive). */
export function isWithinHours(t: LocalTime, allowed: readonly AllowedHours[]): boolean {
  return allowed.some(
    (p) => p.days.includes(t.weekday) && t.minutes >= parseHhMm(p.from) && t.minutes < parseHhMm(p.to),
  );
}
