from keras_flows.cli import main

main()
