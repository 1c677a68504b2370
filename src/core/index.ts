/** `indelible/core`: the pure, dependency-free verifiable-log core. */
export * from './checkpoint.js';
export * from './crypto.js';
export * from './encoding.js';
export * from './errors.js';
export * from './event.js';
export * from './jcs.js';
export * from './merkle.js';
export * from './note.js';
export * from './proof.js';
export * from './prune-statement.js';
export * from './receipt.js';
export * from './record.js';
export * from './tile.js';
export * from './tile-builder.js';
