// The list/watch test API server lives in the product tree (devtools/apiserver.ts) so that
// benchmarks can use it too; tests import it from here as before.
export * from '../../devtools/apiserver.ts';
