// DynamoDB Local (its own ServerRunner.main) listening on 127.0.0.1 only.
//
// DynamoDB Local 3.x has no host option: DynamoDBProxyServer builds a Jetty
// Server(port), which binds every interface. This builds the same server from
// the same command-line options, sets the connectors' host before starting it,
// and starts it. Run with Java's source launcher (local/dynamodb_local.py):
//   java -cp 'DynamoDBLocal.jar:DynamoDBLocal_lib/*' DynamoDBLocalLoopback.java -port 8001 ...
// -Ddynamodb.local.host=<address> picks another address. Telemetry is not set up.

import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class DynamoDBLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("dynamodb.local.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + host);
    }
}
