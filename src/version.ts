/**
 * Indelible's version, as package.json states it (version.test.ts keeps the two equal): printed by
 * `indelible --version` and recorded in `_audit` by `service.start`.
 */
export const VERSION = '0.1.0';
