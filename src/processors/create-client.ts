import { ProcessorClient, withDefaults, type ProcessorApi, type ProcessorClientOptions } from './client.ts';

/**
 * The processor client a thread uses, by PROCESSOR_CLIENT. Transports are loaded on demand:
 * undici alone adds ~26 MB to each thread that imports it, so a thread never loads the
 * transport it does not use.
 */
export async function createProcessorClient(kind: 'raw' | 'undici', url: string, options: ProcessorClientOptions): Promise<ProcessorApi> {
  const settings = withDefaults(options);
  if (kind === 'undici') {
    const { UndiciTransport } = await import('./undici-transport.ts');
    return new ProcessorClient(new UndiciTransport(url, settings));
  }
  const { RawTransport } = await import('./raw-transport.ts');
  return new ProcessorClient(new RawTransport(url, settings));
}
