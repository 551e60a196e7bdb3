/**
 * The Bun gateway (src/gateway/main.ts) under a command line of its own, so the benchmark's
 * instance is told apart from other gateways running on the same machine.
 */
import '../../src/gateway/main.ts';
