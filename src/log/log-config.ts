/**
 * A log's configuration, kept in its state store under `config` when the log is created: its name,
 * origin and key pair. It holds the signing key, so the state store must stay private; readers that
 * only check what the log signed (the archiver, `verify --data`) take the verifier key from it.
 */
import type { StateStore } from '../storage/types.js';

export const STATE_CONFIG = 'config';

export interface StoredLogConfig {
  v: 1;
  name: string;
  origin: string;
  signer_key: string;
  verifier_key: string;
  created_at: string;
}

/** The stored configuration of a log, or undefined when its creation never wrote one. */
export async function readLogConfig(state: StateStore): Promise<StoredLogConfig | undefined> {
  const raw = await state.read(STATE_CONFIG);
  return raw === undefined ? undefined : (JSON.parse(new TextDecoder().decode(raw.value)) as StoredLogConfig);
}
