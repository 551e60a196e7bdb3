import type { ProcessorApi } from './client.ts';

/**
 * The processor client a thread uses, by PROCESSOR_CLIENT. Loaded on demand: undici alone adds
 * ~26 MB to each thread that imports it, so a thread never loads the transport it does not use.
 */
export async function createProcessorClient(kind: 'raw' | 'undici', url: string, options: { connections: number; timeoutMs: number }): Promise<ProcessorApi> {
  if (kind === 'undici') {
    const { ProcessorClient } = await import('./client.ts');
    return new ProcessorClient(url, options);
  }
  const { RawProcessorClient } = await import('./raw-client.ts');
  return new RawProcessorClient(url, options);
}
