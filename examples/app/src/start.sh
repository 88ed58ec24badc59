echo "Hello from $(cat /usr/src/app/installed.txt | sed -n 's/.*"name": "\([^"]*\)".*/\1/p'), built by strata build"
