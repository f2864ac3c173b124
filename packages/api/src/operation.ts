import { z } from 'zod';
import { ApiErrorSchema } from './error.js';

export const OperationStatus = z.enum(['running', 'succeeded', 'failed']);
export type OperationStatus = z.infer<typeof OperationStatus>;

export const Progress = z.object({ step: z.string(), percent: z.number().min(0).max(100).optional() });
export type Progress = z.infer<typeof Progress>;

/** Long work (start, stop, image build) answers 202 with one of these; progress streams as events. */
export const Operation = z.object({
  id: z.string(),
  kind: z.string(),
  target: z.string().optional(),
  status: OperationStatus,
  progress: Progress.optional(),
  error: ApiErrorSchema.optional(),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
});
export type Operation = z.infer<typeof Operation>;
