// The webhook's test fixtures live in the product tree (devtools/webhook-fixtures.ts), where
// bench/webhook.bench.ts uses them too; the tests import them from here.
export * from '../../devtools/webhook-fixtures.ts';
