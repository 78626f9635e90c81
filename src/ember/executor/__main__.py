from ember.executor.server import main

main()
