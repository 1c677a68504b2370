/** `indelible/core`: the pure, dependency-free verifiable-log core. */
export * from './crypto.js';
export * from './encoding.js';
export * from './errors.js';
