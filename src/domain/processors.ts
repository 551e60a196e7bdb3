/**
 * The two payment processors, by index: how every thread, the shared memory and the journal name
 * them (index 0 is default, the cheaper one; 1 is fallback).
 */
export const PROCESSORS = ['default', 'fallback'] as const;
export type ProcessorName = (typeof PROCESSORS)[number];
export const DEFAULT = 0;
export const FALLBACK = 1;
export type ProcessorIndex = typeof DEFAULT | typeof FALLBACK;
