/** Applies a processor condition through the admin API. */
import { type ProcessorAdmin } from './api.ts';
import type { Processors } from './auditor.ts';
import type { Condition, ProcessorCondition } from './schedule.ts';

async function applyOne(p: ProcessorAdmin, c: ProcessorCondition): Promise<string[]> {
  const [delay, failure] = await Promise.all([p.setDelay(c.delayMs), p.setFailure(c.failure)]);
  const problems: string[] = [];
  if (delay.problem !== null) problems.push(`${p.name} processor: set delay ${c.delayMs}: ${delay.problem}`);
  if (failure.problem !== null) problems.push(`${p.name} processor: set failure ${c.failure}: ${failure.problem}`);
  return problems;
}

/** Sets delay and failure on both processors; returns the problems met (empty = ok). */
export async function applyCondition(processors: Processors, condition: Condition): Promise<string[]> {
  const [d, f] = await Promise.all([applyOne(processors.default, condition.default), applyOne(processors.fallback, condition.fallback)]);
  return [...d, ...f];
}
