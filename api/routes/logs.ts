import { z } from 'zod';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const Record = z.object({ timestamp: z.string(), level: z.string(), logger: z.string(), message: z.string() });

export function logRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/logs/control-plane',
      summary: "This process's recent log records (admin only: v1 served them publicly)",
      tag: 'logs',
      auth: 'admin',
      query: z.object({
        lines: z.coerce.number().int().min(1).max(1000).default(100).describe('How many of the newest records'),
        min_level: z.string().default('INFO').describe('DEBUG, INFO, WARNING, ERROR or CRITICAL; unknown → INFO'),
      }),
      responses: {
        200: { description: 'Oldest first', schema: z.object({ logs: z.array(Record), total: z.number() }) },
      },
    },
    async ({ query }) => {
      const records = deps.logger.buffer.records(query.min_level);
      return { logs: records.slice(-query.lines), total: records.length };
    },
  );
}
