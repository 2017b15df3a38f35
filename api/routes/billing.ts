/** Public rate card (api.md §9, billing.md §1). */
import { z } from 'zod';
import { rateCard } from '../../core/pricing';
import type { Routes } from '../http/route';

export function billingRoutes(routes: Routes): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/billing/rates',
      summary: 'Rate card (USD); SLA and machine-size multipliers are not shown, storage is never charged',
      tag: 'billing',
      auth: 'none',
      responses: {
        200: {
          description: 'Rates',
          schema: z.object({
            rates: z.object({
              cpu_per_vcpu_hr: z.number(),
              memory_per_gb_hr: z.number(),
              gpu_per_gpu_hr: z.number(),
              storage_per_gb_mo: z.number(),
            }),
            currency: z.literal('USD'),
          }),
        },
      },
    },
    () => rateCard(),
  );
}
