// Each collection starts a whole distributed application; on a 2-core CI machine, one at a time is faster
// and far steadier than several competing for the cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
