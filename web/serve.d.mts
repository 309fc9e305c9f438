import type { StaticServerOptions } from '../scripts/static-server.mjs';
export const DEMO_MOUNTS: [string, string][];
export function startDemoServer(o?: Omit<StaticServerOptions, 'page' | 'mounts'>): Promise<{ url: string; close: () => Promise<void> }>;
