import { z } from 'zod';
import { checkTemplate } from '../../outputs/kit/template.js';

/** Mustache templates (outputs/template.ts) rendered over each alert; the result becomes an output field. */
export const templatedFieldsSchema = z
  .record(z.string(), z.string())
  .superRefine((fields, ctx) => {
    for (const [key, template] of Object.entries(fields)) {
      try {
        checkTemplate(template);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: [key], message: `not a valid mustache template: ${(err as Error).message}` });
      }
    }
  })
  .default({});
